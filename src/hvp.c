/* hvp.c: Hessian-vector products, forward over reverse in one sweep, and
 * dense Hessians built from them one column at a time.
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

int hvp_nodes(Program *prog, NodeId out, const int *wrt, int nwrt, const NodeId *v, NodeId *grad,
              NodeId *hv) {
  Dag *d = prog->dag;
  uint32_t n = 0;
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  NodeId *adj = seed ? ad_reverse(d, out, NO_NODE, &n) : NULL;
  if (!adj) {
    free(seed);
    return -1;
  }
  for (int i = 0; i < prog->nvars; i++)
    seed[i] = NO_NODE;
  for (int k = 0; k < nwrt; k++) {
    const Var *x = &prog->vars[wrt[k]];
    grad[k] = adj[x->node] == NO_NODE ? dag_bcast(d, dag_const(d, 0), x->shape) : adj[x->node];
    seed[wrt[k]] = v[k];
  }
  free(adj);
  NodeId *tan = ad_forward(d, seed, prog->nvars, grad, nwrt, &n);
  free(seed);
  if (!tan)
    return -1;
  for (int k = 0; k < nwrt; k++) {
    NodeId t = grad[k] < n ? tan[grad[k]] : NO_NODE;
    hv[k] = t == NO_NODE ? dag_bcast(d, dag_const(d, 0), prog->vars[wrt[k]].shape) : t;
  }
  free(tan);
  return d->oom ? -1 : 0;
}

GradcFn *gradc_fn_hvp(Gradc *g, int out, const int *wrt_in, int nwrt) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  if (out < 0 || out >= prog->nouts || dag_shape(prog->dag, prog->outs[out].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_USAGE, "a Hessian-vector product needs a scalar output");
    free(wrt);
    return NULL;
  }
  char *key = api_fn_key("hvp", out, wrt_in ? wrt : NULL, nwrt);
  Dag *d = prog->dag;
  const Output *o = &prog->outs[out];
  int nres = 1 + 2 * nwrt, ok = key != NULL;
  NodeId *roots = calloc((size_t)nres, sizeof *roots);
  NodeId *v = malloc(((size_t)nwrt + 1) * sizeof *v);
  char **names = calloc((size_t)nres, sizeof *names);
  ok = ok && roots && v && names;
  for (int k = 0; ok && k < nwrt; k++) /* the tangent arguments are variables too */
    v[k] = dag_var(d, prog->nvars + k, prog->vars[wrt[k]].shape);
  ok = ok && hvp_nodes(prog, o->node, wrt, nwrt, v, roots + 1, roots + 1 + nwrt) == 0;
  if (ok) {
    roots[0] = o->node;
    names[0] = strdup(o->name);
    ok = names[0] != NULL;
  }
  for (int k = 0; ok && k < nwrt; k++) {
    const Var *x = &prog->vars[wrt[k]];
    char *dn = name2("d", o->name, "/d");
    names[1 + k] = dn ? name2(dn, x->name, "") : NULL;
    free(dn);
    dn = name2("d2", o->name, "/d");
    names[1 + nwrt + k] = dn ? name2(dn, x->name, ".v") : NULL;
    free(dn);
    ok = names[1 + k] && names[1 + nwrt + k];
  }
  free(v);
  GradcFn *f = NULL;
  if (ok) {
    /* the tangent arguments are named by build() as "tangent of w" */
    f = api_fn_named(g, key, roots, names, nres, nwrt, wrt);
    key = NULL;
  } else {
    for (int i = 0; names && i < nres; i++)
      free(names[i]);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building a Hessian-vector product");
  }
  free(key);
  free(names);
  free(roots);
  free(wrt);
  return f;
}

GradcStatus gradc_hessian_dense(Gradc *g, int out, const int *wrt, int nwrt, long n, double *value,
                                double *H) {
  GradcFn *f = gradc_fn_hvp(g, out, wrt, nwrt);
  if (!f)
    return g->diags.count ? (GradcStatus)g->diags.items[g->diags.count - 1].kind : GRADC_ERR_USAGE;
  int nv = g->prog.nvars, nt = f->nargs - nv;
  if (!g->vals) {
    gradc_error(g, GRADC_ERR_USAGE, "no values: call gradc_set_defaults first");
    return GRADC_ERR_USAGE;
  }
  for (int i = 0; i < nv; i++)
    if (!g->vals[i].set) {
      gradc_error(g, GRADC_ERR_USAGE, "no value for '%s'", g->prog.vars[i].name);
      return GRADC_ERR_USAGE;
    }
  long total = 0;
  for (int k = 0; k < nt; k++)
    total += values_size(g, f->argshape[nv + k]);
  if (total != n) {
    gradc_error(g, GRADC_ERR_USAGE, "the Hessian has %ld rows, not %ld", total, n);
    return GRADC_ERR_USAGE;
  }
  /* arguments: the values, then the unit vectors e_r; results: the value,
   * the gradient (scratch) and H e_r, written straight into row r of H
   * (column r too: H is symmetric, and so is what forward over reverse
   * computes, up to rounding) */
  const double **args = calloc((size_t)f->nargs + 1, sizeof *args);
  double **res = calloc((size_t)f->nres + 1, sizeof *res);
  double **tan = calloc((size_t)nt + 1, sizeof *tan);
  long *size = calloc((size_t)nt + 1, sizeof *size);
  GradcStatus st = args && res && tan && size ? GRADC_OK : GRADC_ERR_NOMEM;
  for (int k = 0; st == GRADC_OK && k < nt; k++) {
    size[k] = values_size(g, f->argshape[nv + k]);
    tan[k] = calloc((size_t)size[k] + 1, sizeof **tan);
    res[1 + k] = malloc(((size_t)size[k] + 1) * sizeof **res);
    if (!tan[k] || !res[1 + k])
      st = GRADC_ERR_NOMEM;
  }
  if (st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for the Hessian's columns");
  for (int i = 0; st == GRADC_OK && i < f->nargs; i++)
    args[i] = i < nv ? g->vals[i].data : tan[i - nv];
  res[0] = value;
  double scratch; /* n == 0: the value alone */
  if (st == GRADC_OK && n == 0) {
    for (int k = 0; k < nt; k++)
      res[1 + nt + k] = &scratch;
    st = gradc_call_dims(f, g->dimval, args, res);
  }
  for (long r = 0, k = 0, e = 0; st == GRADC_OK && r < n; r++, e++) {
    while (e >= size[k]) /* element e of wrt variable k */
      k++, e = 0;
    long col = 0;
    for (int j = 0; j < nt; col += size[j], j++)
      res[1 + nt + j] = H + r * n + col;
    tan[k][e] = 1;
    st = gradc_call_dims(f, g->dimval, args, res);
    tan[k][e] = 0;
  }
  for (int k = 0; tan && k < nt; k++)
    free(tan[k]);
  for (int k = 0; res && k < nt; k++)
    free(res[1 + k]);
  free(tan);
  free(res);
  free(args);
  free(size);
  return st;
}
