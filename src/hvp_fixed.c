/* hvp_fixed.c: Hessian-vector products at a fixed point, for methods that
 * multiply many vectors by the Hessian at one x (Lanczos, Hutchinson's
 * trace estimator, the dense Hessian's columns).
 *
 * Forward over reverse (Pearlmutter, "Fast exact multiplication by the
 * Hessian", Neural Computation 6(1), 1994) computes in one function the
 * primal values, the adjoints of the gradient and the tangents of both
 * along v. Only the tangents depend on v. Here the graph of hvp.c's HVP
 * function is cut in two: a `prepare` function computes the value, the
 * gradient and every primal or adjoint intermediate that the tangent code
 * reads (the nodes where the part that depends on v meets the part that
 * does not), once; a `tangent` function takes those as arguments
 * (dag_stand_in) and computes only what depends on v, once per product.
 * Both compute the same nodes as gradc_fn_hvp's function, each by the
 * same emitted code, so H v has the same bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

struct GradcHvpAt {
  Gradc *g;
  GradcFn *prep, *tan;
  int nv, nwrt, ndir, nstored;
  long *dims;         /* the bound dimensions at creation */
  double **x;         /* [nv] copies of the variables' values: the point */
  double value;
  double **grad;      /* [nwrt] the gradient (with_grad), else NULL */
  double **stored;    /* [nstored] the intermediates */
  const double **args; /* the tangent function's: x, v (ndir*nwrt), stored */
  long stored_doubles;
};

/* Copied (or recomputed) in the tangent function rather than stored: the
 * leaves, broadcasts and reshapes (read in place or inline), and
 * transposes of leaves. `free_[a]` says whether node a is such a copy of
 * leaves only. */
static int recomputed(const Node *nd, const uint8_t *free_) {
  switch ((OpKind)nd->op) {
  case OP_CONST: case OP_VAR: case OP_DIM: case OP_IOTA: case OP_BCAST: case OP_RESHAPE:
    return 1;
  case OP_TRANSPOSE:
    return free_[nd->arg[0]];
  default:
    return 0;
  }
}

/* The two functions of output `out`, ndir directions. */
static int split(Gradc *g, int out, const int *wrt, int nwrt, int ndir, int with_grad, GradcFn **prep,
                 GradcFn **tan, int *nstored) {
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  int nv = prog->nvars, nt = ndir * nwrt, ok = 1, m = 0;
  NodeId *v = malloc(((size_t)nt + 1) * sizeof *v), *hv = malloc(((size_t)nt + 1) * sizeof *hv);
  NodeId *grad = malloc(((size_t)nwrt + 1) * sizeof *grad);
  ok = v && hv && grad;
  for (int k = 0; ok && k < nt; k++)
    v[k] = dag_var(d, nv + k, prog->vars[wrt[k % nwrt]].shape);
  ok = ok && hvp_nodes(prog, prog->outs[out].node, wrt, nwrt, ndir, v, grad, hv) == 0;
  uint32_t n = ok ? d->count : 0;
  /* dep: depends on a direction; need: read by the tangent code; free_:
   * a structural copy of leaves */
  uint8_t *dep = calloc((size_t)n + 1, 1), *need = calloc((size_t)n + 1, 1);
  uint8_t *free_ = calloc((size_t)n + 1, 1);
  NodeId *map = malloc(((size_t)n + 1) * sizeof *map), *stored = malloc(((size_t)n + 1) * sizeof *stored);
  ok = ok && dep && need && free_ && map && stored;
  for (uint32_t i = 0; ok && i < n; i++) {
    const Node *nd = dag_node(d, i);
    if (nd->op == OP_VAR)
      dep[i] = nd->arg[0] == NO_NODE && nd->v.idx >= nv && nd->v.idx < nv + nt;
    for (int k = 0; k < nd->nargs; k++)
      dep[i] |= dep[nd->arg[k]];
    free_[i] = nd->nargs == 0 || ((nd->op == OP_BCAST || nd->op == OP_RESHAPE || nd->op == OP_TRANSPOSE) &&
                                  free_[nd->arg[0]]);
  }
  for (int k = 0; ok && k < nt; k++)
    need[hv[k]] = 1;
  for (uint32_t i = n; ok && i-- > 0;) { /* parents before children */
    const Node *nd = dag_node(d, i);
    if (!need[i])
      continue;
    if (dep[i] || recomputed(nd, free_)) {
      for (int k = 0; k < nd->nargs; k++)
        need[nd->arg[k]] = 1;
    } else {
      need[i] = 2; /* stored */
    }
  }
  /* the tangent code's copy of the graph, stored nodes replaced by
   * stand-ins: arguments nv + nt + j */
  for (uint32_t i = 0; ok && i < n; i++) {
    const Node *nd = dag_node(d, i);
    map[i] = i;
    if (need[i] == 2) {
      stored[m] = i;
      map[i] = dag_stand_in(d, nv + nt + m++, i);
    } else if (need[i] == 1 && nd->nargs > 0) {
      NodeId a[3] = {NO_NODE, NO_NODE, NO_NODE};
      for (int k = 0; k < nd->nargs; k++)
        a[k] = map[nd->arg[k]];
      map[i] = dag_with_args(d, i, a);
    }
    ok = map[i] != NO_NODE;
  }
  ok = ok && !d->oom;
  /* prepare: the value, the gradient, the stored nodes */
  int ng = with_grad ? nwrt : 0, np = 1 + ng + m;
  NodeId *proots = malloc(((size_t)np + 1) * sizeof *proots);
  NodeId *troots = malloc(((size_t)nt + 1) * sizeof *troots);
  char **pnames = calloc((size_t)np + 1, sizeof *pnames), **tnames = calloc((size_t)nt + 1, sizeof *tnames);
  int *tan_of = malloc(((size_t)nt + (size_t)m + 1) * sizeof *tan_of);
  ShapeId *tan_shape = malloc(((size_t)nt + (size_t)m + 1) * sizeof *tan_shape);
  ok = ok && proots && troots && pnames && tnames && tan_of && tan_shape;
  const char *oname = prog->outs[out].name;
  char buf[600];
  for (int r = 0; ok && r < np; r++) {
    if (r == 0)
      snprintf(buf, sizeof buf, "%s", oname);
    else if (r <= ng)
      snprintf(buf, sizeof buf, "d%s/d%s", oname, prog->vars[wrt[r - 1]].name);
    else
      snprintf(buf, sizeof buf, "intermediate %d", r - 1 - ng);
    proots[r] = r == 0 ? prog->outs[out].node : r <= ng ? grad[r - 1] : stored[r - 1 - ng];
    ok = (pnames[r] = strdup(buf)) != NULL;
  }
  for (int k = 0; ok && k < nt; k++) {
    if (ndir > 1)
      snprintf(buf, sizeof buf, "d2%s/d%s.v%d", oname, prog->vars[wrt[k % nwrt]].name, k / nwrt + 1);
    else
      snprintf(buf, sizeof buf, "d2%s/d%s.v", oname, prog->vars[wrt[k]].name);
    troots[k] = map[hv[k]];
    ok = (tnames[k] = strdup(buf)) != NULL;
  }
  for (int k = 0; ok && k < nt + m; k++) { /* the stored ones: shapes of their own */
    tan_of[k] = wrt[k < nt ? k % nwrt : 0];
    tan_shape[k] = k < nt ? prog->vars[tan_of[k]].shape : dag_shape(d, stored[k - nt]);
  }
  char kind[64];
  int ptaken = 0, ttaken = 0; /* the names (not the arrays) go to the functions */
  *prep = *tan = NULL;
  if (ok) {
    snprintf(kind, sizeof kind, "hvp-prepare%s:%d", with_grad ? "" : "-only", ndir);
    char *key = api_fn_key(kind, out, wrt, nwrt);
    if (key) {
      *prep = api_fn_named(g, key, proots, pnames, np, 0, NULL);
      ptaken = 1;
    }
  }
  if (*prep) {
    snprintf(kind, sizeof kind, "hvp-tangent:%d", ndir);
    char *key = api_fn_key(kind, out, wrt, nwrt);
    if (key) {
      *tan = api_fn_shaped(g, key, troots, tnames, nt, nt + m, tan_of, tan_shape, NULL);
      ttaken = 1;
    }
  }
  for (int j = 0; *tan && j < m; j++) { /* "tangent of w" by default */
    char **an = &(*tan)->argnames[nv + nt + j];
    snprintf(buf, sizeof buf, "intermediate %d", j);
    if (strcmp(*an, buf)) {
      char *s = strdup(buf);
      if (s) {
        free(*an);
        *an = s;
      }
    }
  }
  if (!ok && d->oom == 2) /* as build() says it */
    gradc_error(g, GRADC_ERR_INPUT, "the expression is too large (more than %u nodes)",
                d->max_nodes ? d->max_nodes : 64u * 1024 * 1024);
  else if (!ok || !ptaken || (*prep && !ttaken)) /* else build() said why */
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building a Hessian-vector product");
  for (int r = 0; !ptaken && pnames && r < np; r++)
    free(pnames[r]);
  for (int k = 0; !ttaken && tnames && k < nt; k++)
    free(tnames[k]);
  free(pnames);
  free(tnames);
  free(proots);
  free(troots);
  free(tan_of);
  free(tan_shape);
  free(v);
  free(hv);
  free(grad);
  free(dep);
  free(need);
  free(free_);
  free(map);
  free(stored);
  *nstored = m;
  return *prep && *tan ? 0 : -1;
}

void gradc_hvp_at_free(GradcHvpAt *h) {
  if (!h)
    return;
  for (int i = 0; h->x && i < h->nv; i++)
    free(h->x[i]);
  for (int k = 0; h->grad && k < h->nwrt; k++)
    free(h->grad[k]);
  for (int j = 0; h->stored && j < h->nstored; j++)
    free(h->stored[j]);
  free(h->x);
  free(h->grad);
  free(h->stored);
  free(h->args);
  free(h->dims);
  free(h);
}

/* Copies of the point and room for the gradient and the intermediates,
 * then the prepare function's call. */
static GradcStatus prepare(GradcHvpAt *h, const int *wrt, int with_grad) {
  Gradc *g = h->g;
  Program *prog = &g->prog;
  int nt = h->ndir * h->nwrt, nd = prog->ndims, ng = with_grad ? h->nwrt : 0;
  h->dims = malloc(((size_t)nd + 1) * sizeof *h->dims);
  h->x = calloc((size_t)h->nv + 1, sizeof *h->x);
  h->grad = with_grad ? calloc((size_t)h->nwrt + 1, sizeof *h->grad) : NULL;
  h->stored = calloc((size_t)h->nstored + 1, sizeof *h->stored);
  h->args = calloc((size_t)(h->nv + nt + h->nstored) + 1, sizeof *h->args);
  double **res = calloc((size_t)(1 + ng + h->nstored) + 1, sizeof *res);
  int ok = h->dims && h->x && (h->grad || !with_grad) && h->stored && h->args && res;
  if (ok && nd > 0)
    memcpy(h->dims, g->dimval, (size_t)nd * sizeof *h->dims);
  for (int i = 0; ok && i < h->nv; i++) { /* the point, copied: set_value may change the context's */
    long sz = values_size(g, prog->vars[i].shape);
    ok = (h->x[i] = malloc((size_t)(sz > 0 ? sz : 1) * sizeof **h->x)) != NULL;
    if (ok)
      memcpy(h->x[i], g->vals[i].data, (size_t)sz * sizeof **h->x);
    h->args[i] = h->x[i];
  }
  if (ok)
    res[0] = &h->value;
  for (int k = 0; ok && k < ng; k++) {
    long sz = values_size(g, prog->vars[wrt[k]].shape);
    ok = (res[1 + k] = h->grad[k] = malloc((size_t)(sz > 0 ? sz : 1) * sizeof **h->grad)) != NULL;
  }
  for (int j = 0; ok && j < h->nstored; j++) {
    long sz = values_size(g, h->tan->argshape[h->nv + nt + j]);
    h->stored_doubles += sz;
    ok = (res[1 + ng + j] = h->stored[j] = malloc((size_t)(sz > 0 ? sz : 1) * sizeof **h->stored)) != NULL;
    h->args[h->nv + nt + j] = h->stored[j];
  }
  GradcStatus st = GRADC_ERR_NOMEM;
  if (ok)
    st = gradc_call_dims(h->prep, h->dims, h->args, res);
  else
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while preparing Hessian-vector products");
  free(res);
  return st;
}

GradcHvpAt *hvp_at_new(Gradc *g, int out, const int *wrt_in, int nwrt, int ndir, int with_grad) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  GradcHvpAt *h = NULL;
  int ok = 1;
  if (out < 0 || out >= prog->nouts || dag_shape(prog->dag, prog->outs[out].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_USAGE, "a Hessian-vector product needs a scalar output");
    ok = 0;
  }
  ok = ok && api_values_ready(g);
  for (int k = 0; ok && k < nwrt; k++)
    if (wrt[k] < 0 || wrt[k] >= prog->nvars) {
      gradc_error(g, GRADC_ERR_USAGE, "no variable %d to differentiate with respect to", wrt[k]);
      ok = 0;
    }
  if (ok && !(h = calloc(1, sizeof *h))) {
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while preparing Hessian-vector products");
    ok = 0;
  }
  if (ok) {
    h->g = g;
    h->nv = prog->nvars;
    h->nwrt = nwrt;
    h->ndir = ndir;
    ok = split(g, out, wrt, nwrt, ndir, with_grad, &h->prep, &h->tan, &h->nstored) == 0 &&
         prepare(h, wrt, with_grad) == GRADC_OK;
  }
  if (!ok) {
    gradc_hvp_at_free(h);
    h = NULL;
  }
  free(wrt);
  return h;
}

GradcHvpAt *gradc_hvp_at(Gradc *g, int out, const int *wrt, int nwrt) {
  return hvp_at_new(g, out, wrt, nwrt, 1, 1);
}

GradcStatus gradc_hvp_at_apply(GradcHvpAt *h, const double *const *v, double *const *hv) {
  int nt = h->ndir * h->nwrt;
  for (int k = 0; k < nt; k++)
    h->args[h->nv + k] = v[k];
  return gradc_call_dims(h->tan, h->dims, h->args, hv);
}

double gradc_hvp_at_value(const GradcHvpAt *h) { return h->value; }

const double *gradc_hvp_at_gradient(const GradcHvpAt *h, int k) {
  return h->grad && k >= 0 && k < h->nwrt ? h->grad[k] : NULL;
}

long gradc_hvp_at_stored(const GradcHvpAt *h) { return h->stored_doubles; }
