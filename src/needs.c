/* needs.c: what one output needs values for (SPEC 2: "a command computes
 * only what its outputs need: eval --output pred needs no value for a
 * variable that pred does not depend on"; the REPL's lazy values, 2.4).
 *
 * The variables whose nodes the output reaches; and for a symbolic
 * dimension that the output uses (in a shape, arange(N), mean's N) but
 * that none of those variables has and whose size is not given, one
 * variable that binds it (one with a value, else one with a default), or
 * every variable that has it when none can (each is then asked for). The DAG is walked in id order, a
 * topological order: no recursion. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* Marks in uses[] the symbolic dimensions (plain ones) that d is made of. */
static void dims_of(const Dag *d, int64_t x, int ndims, uint8_t *uses, long *probe) {
  if (x >= 0 || x == DIM_FAIL)
    return;
  if (!dim_is_derived(x)) {
    if (~x < ndims)
      uses[~x] = 1;
    return;
  }
  for (int k = 0; k < ndims; k++) { /* an atom: unbound, the dimension is too */
    if (uses[k])
      continue;
    long keep = probe[k];
    probe[k] = -1;
    if (dim_eval(d, x, probe) < 0)
      uses[k] = 1;
    probe[k] = keep;
  }
}

static int var_has_dim(const Dag *d, const Var *v, int k) {
  const Shape *s = shape_get(d, v->shape);
  for (int j = 0; j < s->rank; j++)
    if (s->dim[j] == ~(int64_t)k)
      return 1;
  return 0;
}

GradcStatus gradc_output_needs(Gradc *g, int out, unsigned char *need) {
  Program *prog = &g->prog;
  if (!prog->dag || out < 0 || out >= prog->nouts) {
    gradc_error(g, GRADC_ERR_USAGE, "no such output");
    return GRADC_ERR_USAGE;
  }
  const Dag *d = prog->dag;
  NodeId root = prog->outs[out].node;
  int nd = prog->ndims;
  uint8_t *live = calloc((size_t)root + 1, 1), *dims = calloc((size_t)nd + 1, 1),
          *have = calloc((size_t)nd + 1, 1);
  long *probe = malloc(((size_t)nd + 1) * sizeof *probe);
  if (!live || !dims || !have || !probe) {
    free(live), free(dims), free(have), free(probe);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
    return GRADC_ERR_NOMEM;
  }
  for (int k = 0; k < nd; k++)
    probe[k] = 7;
  memset(need, 0, (size_t)prog->nvars);
  live[root] = 1;
  for (uint32_t i = root + 1; i-- > 0;) {
    if (!live[i])
      continue;
    const Node *n = &d->nodes[i];
    for (int k = 0; k < n->nargs; k++)
      live[n->arg[k]] = 1;
    if (n->op == OP_VAR && n->v.idx < prog->nvars)
      need[n->v.idx] = 1;
    if (n->op == OP_DIM)
      dims_of(d, ~(int64_t)n->v.idx, nd, dims, probe);
    const Shape *s = shape_get(d, n->shape);
    for (int k = 0; k < s->rank; k++)
      dims_of(d, s->dim[k], nd, dims, probe);
  }
  for (int v = 0; v < prog->nvars; v++) { /* the dimensions the needed variables bind */
    const Shape *s = shape_get(d, prog->vars[v].shape);
    for (int k = 0; need[v] && k < s->rank; k++)
      if (s->dim[k] < 0 && !dim_is_derived(s->dim[k]) && ~s->dim[k] < nd)
        have[~s->dim[k]] = 1;
  }
  /* a dimension that only others have: the size given (NAME=SIZE), else
   * one variable that binds it, one with a value or else a default, else
   * all of them (none has a value: each is asked for) */
  for (int k = 0; k < nd; k++) {
    if (!dims[k] || have[k] || (g->dimgiven && g->dimgiven[k] > 0))
      continue;
    int with_value = -1, with_default = -1;
    for (int v = 0; v < prog->nvars; v++)
      if (var_has_dim(d, &prog->vars[v], k)) {
        if (with_value < 0 && g->vals && g->vals[v].set)
          with_value = v;
        if (with_default < 0 && prog->vars[v].init != INIT_NONE)
          with_default = v;
      }
    int one = with_value >= 0 ? with_value : with_default;
    for (int v = 0; v < prog->nvars; v++)
      if (one >= 0 ? v == one : var_has_dim(d, &prog->vars[v], k))
        need[v] = 1;
  }
  free(live);
  free(dims);
  free(have);
  free(probe);
  return GRADC_OK;
}

GradcFn *gradc_fn_value_of(Gradc *g, int out) {
  if (!g->prog.dag || out < 0 || out >= g->prog.nouts) {
    gradc_error(g, GRADC_ERR_USAGE, "no such output");
    return NULL;
  }
  char *key = api_fn_key("value_of", out, NULL, 0), *name = strdup(g->prog.outs[out].name);
  if (!key || !name) {
    free(key);
    free(name);
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  NodeId root = g->prog.outs[out].node;
  return api_fn_named(g, key, &root, &name, 1, 0, NULL);
}
