/* hvp.c: Hessian-vector products, forward over reverse in one sweep.
 *
 * The reverse pass adds the gradient g(x) of a scalar output to the DAG;
 * the forward pass then differentiates g along a tangent v given as extra
 * arguments, so H v = d/dt g(x + t v) at t = 0 comes from one function
 * whose cost is a small multiple of the value's (Pearlmutter, "Fast exact
 * multiplication by the Hessian", Neural Computation 6(1), 1994). The
 * primal values and the adjoints are computed once and shared by the
 * tangent code, like every derivative in gradc. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

static char *name2(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s%s%s", a, b, c);
  return s;
}

/* with_value: the value and the gradient as results before H v */
static GradcFn *hvp_fn(Gradc *g, int out, const int *wrt_in, int nwrt, int with_value) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  if (out < 0 || out >= prog->nouts || dag_shape(prog->dag, prog->outs[out].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_USAGE, "a Hessian-vector product needs a scalar output");
    free(wrt);
    return NULL;
  }
  char *key = api_fn_key(with_value ? "hvp" : "hvp-only", out, wrt_in ? wrt : NULL, nwrt);
  Dag *d = prog->dag;
  const Output *o = &prog->outs[out];
  int nres = 1 + 2 * nwrt, ok = key != NULL;
  NodeId *roots = calloc((size_t)nres, sizeof *roots);
  char **names = calloc((size_t)nres, sizeof *names);
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  uint32_t n = 0;
  NodeId *adj = ok && roots && names && seed ? ad_reverse(d, o->node, NO_NODE, &n) : NULL;
  ok = adj != NULL;
  for (int i = 0; ok && i < prog->nvars; i++)
    seed[i] = NO_NODE;
  for (int k = 0; ok && k < nwrt; k++) { /* the tangent arguments are variables too */
    const Var *v = &prog->vars[wrt[k]];
    roots[1 + k] = adj[v->node] == NO_NODE ? dag_bcast(d, dag_const(d, 0), v->shape) : adj[v->node];
    seed[wrt[k]] = dag_var(d, prog->nvars + k, v->shape);
  }
  NodeId *tan = ok ? ad_forward(d, seed, prog->nvars, roots + 1, nwrt, &n) : NULL;
  ok = tan != NULL;
  if (ok) {
    roots[0] = o->node;
    names[0] = strdup(o->name);
    ok = names[0] != NULL;
  }
  for (int k = 0; ok && k < nwrt; k++) {
    const Var *v = &prog->vars[wrt[k]];
    NodeId gk = roots[1 + k], hv = gk < n ? tan[gk] : NO_NODE;
    roots[1 + nwrt + k] = hv == NO_NODE ? dag_bcast(d, dag_const(d, 0), v->shape) : hv;
    char *dn = name2("d", o->name, "/d");
    names[1 + k] = dn ? name2(dn, v->name, "") : NULL;
    free(dn);
    dn = name2("d2", o->name, "/d");
    names[1 + nwrt + k] = dn ? name2(dn, v->name, ".v") : NULL;
    free(dn);
    ok = names[1 + k] && names[1 + nwrt + k];
  }
  free(adj);
  free(tan);
  free(seed);
  GradcFn *f = NULL;
  if (ok && !with_value) { /* H v only: the gradient's own products are not computed */
    for (int i = 0; i < 1 + nwrt; i++)
      free(names[i]);
    memmove(roots, roots + 1 + nwrt, (size_t)nwrt * sizeof *roots);
    memmove(names, names + 1 + nwrt, (size_t)nwrt * sizeof *names);
    nres = nwrt;
  }
  if (ok) {
    /* the tangent arguments are named by build() as "tangent of w" */
    f = api_fn_named(g, key, roots, names, nres, nwrt, wrt);
    key = NULL;
  } else {
    for (int i = 0; names && i < nres; i++)
      free(names[i]);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building a Hessian-vector product");
  }
  /* build() keeps tan_of only while it runs */
  free(key);
  free(names);
  free(roots);
  free(wrt);
  return f;
}

GradcFn *gradc_fn_hvp(Gradc *g, int out, const int *wrt, int nwrt) {
  return hvp_fn(g, out, wrt, nwrt, 1);
}

GradcFn *gradc_fn_hvp_only(Gradc *g, int out, const int *wrt, int nwrt) {
  return hvp_fn(g, out, wrt, nwrt, 0);
}
