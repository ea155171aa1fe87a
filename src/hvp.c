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

int hvp_nodes(Program *prog, NodeId out, const int *wrt, int nwrt, int ndir, const NodeId *v,
              NodeId *grad, NodeId *hv) {
  Dag *d = prog->dag;
  uint32_t n = 0;
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  NodeId *adj = seed ? ad_reverse(d, out, NO_NODE, &n) : NULL;
  if (!adj) {
    free(seed);
    return -1;
  }
  for (int k = 0; k < nwrt; k++) {
    const Var *x = &prog->vars[wrt[k]];
    grad[k] = adj[x->node] == NO_NODE ? dag_bcast(d, dag_const(d, 0), x->shape) : adj[x->node];
  }
  free(adj);
  /* one forward sweep per direction; what they share (the primal values
   * and the adjoints) is in the DAG once */
  for (int dir = 0; dir < ndir; dir++) {
    for (int i = 0; i < prog->nvars; i++)
      seed[i] = NO_NODE;
    for (int k = 0; k < nwrt; k++)
      seed[wrt[k]] = v[dir * nwrt + k];
    NodeId *tan = ad_forward(d, seed, prog->nvars, grad, nwrt, &n);
    if (!tan) {
      free(seed);
      return -1;
    }
    for (int k = 0; k < nwrt; k++) {
      NodeId t = grad[k] < n ? tan[grad[k]] : NO_NODE;
      hv[dir * nwrt + k] = t == NO_NODE ? dag_bcast(d, dag_const(d, 0), prog->vars[wrt[k]].shape) : t;
    }
    free(tan);
  }
  free(seed);
  return d->oom ? -1 : 0;
}

/* The HVP function of output `out` along ndir directions v_1.. v_ndir
 * (arguments: the variables, then v_1 shaped like the wrt variables, then
 * v_2...): results the value, (with_grad) the gradient, then H v_1, H v_2...
 * The directions share the primal values and the adjoints, computed once
 * per call. Without the gradient the code is smaller: the adjoints of the
 * variables themselves are not needed for H v (a weight gradient dS' X of a
 * layer with input X is one matrix product less). */
static GradcFn *hvp_fn(Gradc *g, int out, const int *wrt_in, int nwrt, int ndir, int with_grad) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  if (out < 0 || out >= prog->nouts || dag_shape(prog->dag, prog->outs[out].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_USAGE, "a Hessian-vector product needs a scalar output");
    free(wrt);
    return NULL;
  }
  char kind[48];
  snprintf(kind, sizeof kind, "hvp%s:%d", with_grad ? "" : "-only", ndir);
  char *key = api_fn_key(kind, out, wrt_in ? wrt : NULL, nwrt);
  Dag *d = prog->dag;
  const Output *o = &prog->outs[out];
  int nv = ndir * nwrt, ng = with_grad ? nwrt : 0, nres = 1 + ng + nv, ok = key != NULL;
  NodeId *roots = calloc((size_t)(1 + nwrt + nv), sizeof *roots);
  NodeId *v = malloc(((size_t)nv + 1) * sizeof *v);
  int *tan_of = malloc(((size_t)nv + 1) * sizeof *tan_of);
  char **names = calloc((size_t)nres, sizeof *names);
  ok = ok && roots && v && tan_of && names;
  for (int k = 0; ok && k < nv; k++) { /* the tangent arguments are variables too */
    tan_of[k] = wrt[k % nwrt];
    v[k] = dag_var(d, prog->nvars + k, prog->vars[tan_of[k]].shape);
  }
  ok = ok && hvp_nodes(prog, o->node, wrt, nwrt, ndir, v, roots + 1, roots + 1 + nwrt) == 0;
  if (ok && !with_grad)
    memmove(roots + 1, roots + 1 + nwrt, (size_t)nv * sizeof *roots);
  if (ok) {
    roots[0] = o->node;
    names[0] = strdup(o->name);
    ok = names[0] != NULL;
  }
  char *dn = ok ? name2("d", o->name, "/d") : NULL, *d2n = ok ? name2("d2", o->name, "/d") : NULL;
  ok = ok && dn && d2n;
  for (int k = 0; ok && k < ng; k++)
    ok = (names[1 + k] = name2(dn, prog->vars[wrt[k]].name, "")) != NULL;
  for (int k = 0; ok && k < nv; k++) {
    char suffix[32] = ".v";
    if (ndir > 1)
      snprintf(suffix, sizeof suffix, ".v%d", k / nwrt + 1);
    ok = (names[1 + ng + k] = name2(d2n, prog->vars[tan_of[k]].name, suffix)) != NULL;
  }
  free(dn);
  free(d2n);
  free(v);
  GradcFn *f = NULL;
  if (ok) {
    /* the tangent arguments are named by build() as "tangent of w" */
    f = api_fn_named(g, key, roots, names, nres, nv, tan_of);
    key = NULL;
  } else {
    for (int i = 0; names && i < nres; i++)
      free(names[i]);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building a Hessian-vector product");
  }
  free(key);
  free(names);
  free(roots);
  free(tan_of);
  free(wrt);
  return f;
}

GradcFn *gradc_fn_hvp(Gradc *g, int out, const int *wrt, int nwrt) {
  return hvp_fn(g, out, wrt, nwrt, 1, 1);
}

GradcFn *gradc_fn_hvp_only(Gradc *g, int out, const int *wrt, int nwrt) {
  return hvp_fn(g, out, wrt, nwrt, 1, 0);
}

/* Directions per product of the dense Hessian: the tangent code of this
 * many columns in one call. */
enum { HESSIAN_DIRECTIONS = 8 };

GradcStatus gradc_hessian_dense(Gradc *g, int out, const int *wrt_in, int nwrt, long n,
                                double *value, double *H) {
  int ndir = n < HESSIAN_DIRECTIONS ? (n > 0 ? (int)n : 1) : HESSIAN_DIRECTIONS;
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return GRADC_ERR_NOMEM;
  /* the primal values and adjoints at the point once (hvp_fixed.c), then
   * the tangent code for ndir columns per call */
  GradcHvpAt *h = hvp_at_new(g, out, wrt, nwrt, ndir, 0);
  if (!h) {
    free(wrt);
    return g->diags.count ? (GradcStatus)g->diags.items[g->diags.count - 1].kind : GRADC_ERR_USAGE;
  }
  long total = 0;
  for (int k = 0; k < nwrt; k++)
    total += values_size(g, g->prog.vars[wrt[k]].shape);
  if (total != n) {
    gradc_error(g, GRADC_ERR_USAGE, "the Hessian has %ld rows, not %ld", total, n);
    gradc_hvp_at_free(h);
    free(wrt);
    return GRADC_ERR_USAGE;
  }
  *value = gradc_hvp_at_value(h);
  int nt = ndir * nwrt;
  /* the directions are ndir unit vectors e_r; H e_r goes straight into
   * row r of H (column r too: H is symmetric, and so is what forward over
   * reverse computes, up to rounding); directions past the last row write
   * into scratch */
  double **res = calloc((size_t)nt + 1, sizeof *res);
  double **tan = calloc((size_t)nt + 1, sizeof *tan);
  long *size = calloc((size_t)nwrt + 1, sizeof *size), *col = calloc((size_t)nwrt + 1, sizeof *col);
  double *scratch = malloc(((size_t)n + 1) * sizeof *scratch);
  GradcStatus st = res && tan && size && col && scratch ? GRADC_OK : GRADC_ERR_NOMEM;
  for (int k = 0; st == GRADC_OK && k < nwrt; k++) {
    size[k] = values_size(g, g->prog.vars[wrt[k]].shape);
    col[k + 1] = col[k] + size[k];
  }
  for (int t = 0; st == GRADC_OK && t < nt; t++)
    if (!(tan[t] = calloc((size_t)size[t % nwrt] + 1, sizeof **tan)))
      st = GRADC_ERR_NOMEM;
  if (st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for the Hessian's columns");
  for (long r0 = 0; st == GRADC_OK && r0 < n; r0 += ndir) { /* rows r0.. r0+ndir-1 */
    int which[HESSIAN_DIRECTIONS];
    long elem[HESSIAN_DIRECTIONS];
    for (int dir = 0; dir < ndir; dir++) {
      long r = r0 + dir;
      int k = 0;
      while (k < nwrt && r >= col[k + 1]) /* element r - col[k] of wrt variable k */
        k++;
      which[dir] = k;
      elem[dir] = r < n ? r - col[k] : -1;
      if (r < n)
        tan[dir * nwrt + k][elem[dir]] = 1;
      for (int j = 0; j < nwrt; j++)
        res[dir * nwrt + j] = (r < n ? H + r * n : scratch) + col[j];
    }
    st = gradc_hvp_at_apply(h, (const double *const *)tan, res);
    for (int dir = 0; dir < ndir; dir++)
      if (elem[dir] >= 0)
        tan[dir * nwrt + which[dir]][elem[dir]] = 0;
  }
  for (int t = 0; tan && t < nt; t++)
    free(tan[t]);
  free(tan);
  free(res);
  free(size);
  free(col);
  free(scratch);
  free(wrt);
  gradc_hvp_at_free(h);
  return st;
}
