/* trace.c: the evaluation trace (gradc.h, the course's tables): one row
 * per live DAG node with its definition, shape, value, tangent and
 * adjoint. The numbers come from one compiled function whose results are
 * every row's value, tangent and adjoint, so tensors, symbolic dimensions
 * and every operator are evaluated exactly as gradc_fn_value does. */
#include <stdlib.h>
#include <string.h>

#include "api.h"

/* The name of node n in a definition: its row, or its constant. */
static void operand(Buf *b, const Dag *d, const int *row, NodeId n) {
  if (row[n] > 0)
    buf_printf(b, "a%d", row[n]);
  else if (d->nodes[n].v.num < 0)
    buf_printf(b, "(%.10g)", d->nodes[n].v.num);
  else
    buf_printf(b, "%.10g", d->nodes[n].v.num);
}

/* The first index a slice or a pad reads along dimension k: N-1 (x[-1]),
 * N+2 (the third piece of concat([x, [a, b], y])), 3. */
static void first_index(const Dag *d, const SliceSpec *sp, int k, char *out, size_t n) {
  size_t at;
  out[0] = 0;
  if (sp->from_end >> k & 1)
    dim_format(d, sp->full[k], out, n);
  at = strlen(out);
  if (sp->off[k]) {
    if (at && at + 1 < n)
      out[at++] = '+';
    dim_format(d, sp->off[k], out + at, n - at);
    at = strlen(out);
  }
  if (sp->start[k] || !at)
    snprintf(out + at, n - at, at ? "%+lld" : "%lld", (long long)sp->start[k]);
}

static void definition(Buf *b, const Program *prog, const int *row, NodeId i) {
  const Dag *d = prog->dag;
  const Node *nd = &d->nodes[i];
  OpKind op = (OpKind)nd->op;
  switch (op) {
  case OP_VAR:
    buf_puts(b, prog->vars[nd->v.idx].name);
    return;
  case OP_DIM: { /* N, or a derived size such as N-1 */
    char dn[128];
    dim_format(d, ~nd->v.idx, dn, sizeof dn);
    buf_puts(b, dn);
    return;
  }
  case OP_NEG:
    buf_puts(b, "-");
    operand(b, d, row, nd->arg[0]);
    return;
  case OP_MATMUL:
    operand(b, d, row, nd->arg[0]);
    buf_puts(b, nd->v.idx & 1 ? "' @ " : " @ ");
    operand(b, d, row, nd->arg[1]);
    if (nd->v.idx & 2)
      buf_puts(b, "'");
    return;
  case OP_SUM: case OP_MAXR: case OP_ARGMAX:
    buf_printf(b, "%s(", op_info[op].spell);
    operand(b, d, row, nd->arg[0]);
    if (nd->v.idx >= 0)
      buf_printf(b, ", %d", (int)nd->v.idx);
    buf_puts(b, ")");
    return;
  case OP_ONEHOT:
    buf_puts(b, "onehot(");
    operand(b, d, row, nd->arg[0]);
    buf_printf(b, ", %d)", (int)nd->v.idx);
    return;
  case OP_SLICE: case OP_PAD: {
    const SliceSpec *sp = &d->slices[nd->v.idx];
    if (op == OP_PAD)
      buf_puts(b, "pad(");
    operand(b, d, row, nd->arg[0]);
    buf_puts(b, op == OP_PAD ? " into [" : "[");
    for (int k = 0; k < sp->rank; k++) {
      if (k)
        buf_puts(b, ", ");
      char first[160], len[128];
      int64_t o;
      first_index(d, sp, k, first, sizeof first);
      dim_format(d, sp->len[k], len, sizeof len);
      int plain = !sp->off[k] && !(sp->from_end >> k & 1) && slice_step(sp, k) == 1;
      if (sp->drop >> k & 1)
        buf_puts(b, first);
      else if (plain && sp->start[k] == 0 && sp->len[k] == sp->full[k])
        buf_puts(b, ":");
      else if (plain && sp->len[k] >= 0)
        buf_printf(b, "%lld:%lld", (long long)sp->start[k], (long long)(sp->start[k] + sp->len[k]));
      else if (plain && dim_offset(d, sp->len[k], sp->full[k], 1, &o) && o + sp->start[k] <= 0)
        buf_printf(b, o + sp->start[k] ? "%lld:%lld" : "%lld:", (long long)sp->start[k],
                   (long long)(o + sp->start[k])); /* x[1:], x[1:-1] */
      else if (slice_step(sp, k) == 1 && !strcmp(first, "0"))
        buf_printf(b, "0:%s", len);
      else if (slice_step(sp, k) == 1) /* first:first+len */
        buf_printf(b, strpbrk(len, "+-") ? "%s:%s+(%s)" : "%s:%s+%s", first, first, len);
      else /* a step: the first index, the step, the count */
        buf_printf(b, "%s::%lld (%s of them)", first, (long long)slice_step(sp, k), len);
    }
    buf_puts(b, op == OP_PAD ? "])" : "]");
    return;
  }
  default:
    break;
  }
  if (op_info[op].cls == OC_INFIX || op_info[op].cls == OC_CMP || op == OP_POW) {
    operand(b, d, row, nd->arg[0]);
    buf_printf(b, " %s ", op_info[op].spell);
    operand(b, d, row, nd->arg[1]);
    return;
  }
  buf_printf(b, "%s(", op_info[op].spell);
  for (int k = 0; k < nd->nargs; k++) {
    if (k)
      buf_puts(b, ", ");
    operand(b, d, row, nd->arg[k]);
  }
  buf_puts(b, ")");
}

/* A derivative that the passes found to be zero, as a zero of its shape. */
static NodeId zero_if_none(Dag *d, NodeId n, ShapeId s) {
  return n == NO_NODE ? dag_bcast(d, dag_const(d, 0), s) : n;
}

GradcStatus gradc_trace(Gradc *g, int out, int wrt, long elem, GradcTrace **trace) {
  *trace = NULL;
  Program *prog = &g->prog;
  if (!prog->dag || out < 0 || out >= prog->nouts || wrt < 0 || wrt >= prog->nvars) {
    gradc_error(g, GRADC_ERR_USAGE, "trace: no such output or variable");
    return GRADC_ERR_USAGE;
  }
  if (!g->vals) {
    gradc_error(g, GRADC_ERR_USAGE, "no values: call gradc_set_defaults first");
    return GRADC_ERR_USAGE;
  }
  Dag *d = prog->dag;
  const Var *wv = &prog->vars[wrt];
  long wsize = values_size(g, wv->shape);
  if (wsize < 0 || elem < 0 || elem >= wsize) {
    gradc_error(g, GRADC_ERR_USAGE, "trace: '%s' has no element %ld", wv->name, elem);
    return GRADC_ERR_USAGE;
  }
  uint32_t n0 = d->count;
  NodeId *roots = malloc(((size_t)prog->nouts + 1) * sizeof *roots);
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  int *row = calloc(n0 ? n0 : 1, sizeof *row);
  uint8_t *live = calloc(n0 ? n0 : 1, 1);
  double *dir = calloc((size_t)wsize + 1, sizeof *dir);
  GradcTrace *t = calloc(1, sizeof *t);
  NodeId *tan = NULL, *adj = NULL, *res = NULL;
  GradcStatus st = GRADC_ERR_NOMEM;
  uint32_t nt, na;
  if (!roots || !seed || !row || !live || !dir || !t)
    goto done;
  for (int o = 0; o < prog->nouts; o++)
    roots[o] = prog->outs[o].node;
  for (int i = 0; i < prog->nvars; i++)
    seed[i] = NO_NODE;
  /* the direction is an argument, as in gradc_fn_jvp: one function for
   * every element of the variable */
  seed[wrt] = dag_var(d, prog->nvars, wv->shape);
  tan = ad_forward(d, seed, prog->nvars, roots, prog->nouts, &nt);
  adj = ad_reverse(d, prog->outs[out].node, NO_NODE, &na);
  if (!tan || !adj || d->oom)
    goto done;
  t->out_is_tensor = dag_shape(d, roots[out]) != SHAPE_SCALAR;
  /* rows: the live non-constant primal nodes, in id order */
  for (int o = 0; o < prog->nouts; o++)
    live[roots[o]] = 1;
  for (uint32_t i = n0; i-- > 0;)
    if (live[i])
      for (int k = 0; k < d->nodes[i].nargs; k++)
        live[d->nodes[i].arg[k]] = 1;
  int nrows = 0;
  for (uint32_t i = 0; i < n0; i++)
    if (live[i] && d->nodes[i].op != OP_CONST)
      row[i] = ++nrows;
  t->rows = calloc((size_t)nrows + 1, sizeof *t->rows);
  t->out_row = calloc((size_t)prog->nouts + 1, sizeof *t->out_row);
  res = malloc(((size_t)nrows * 3 + 1) * sizeof *res);
  if (!t->rows || !t->out_row || !res)
    goto done;
  int nres = 0;
  for (uint32_t i = 0; i < n0; i++)
    if (row[i]) {
      ShapeId s = dag_shape(d, i);
      res[nres++] = i;
      res[nres++] = zero_if_none(d, i < nt ? tan[i] : NO_NODE, s);
      res[nres++] = zero_if_none(d, i < na ? adj[i] : NO_NODE, s);
    }
  if (d->oom)
    goto done;
  char key[64];
  snprintf(key, sizeof key, "trace:%d:%d", out, wrt);
  GradcFn *f = api_fn_nodes(g, strdup(key), res, nres, 1, &wrt);
  if (!f) { /* build() said why */
    st = GRADC_ERR_INPUT;
    goto done;
  }
  dir[elem] = 1;
  const double *dirs[1] = {dir};
  st = gradc_run(f, dirs);
  if (st != GRADC_OK)
    goto done; /* gradc_run said why */
  st = GRADC_ERR_NOMEM;
  for (uint32_t i = 0, k = 0; i < n0; i++) {
    if (!row[i])
      continue;
    GradcTraceRow *r = &t->rows[t->nrows++];
    snprintf(r->name, sizeof r->name, "a%d", row[i]);
    Buf b = {0};
    definition(&b, prog, row, i);
    r->def = b.data ? b.data : strdup("?");
    r->rank = gradc_fn_res_shape(f, (int)k, r->dims);
    r->size = 1;
    for (int j = 0; j < r->rank; j++)
      r->size *= r->dims[j];
    double **col[3] = {&r->value, &r->tangent, &r->adjoint};
    for (int c = 0; c < 3; c++, k++) {
      *col[c] = malloc((size_t)(r->size > 0 ? r->size : 1) * sizeof(double));
      if (!*col[c] || !r->def) {
        st = GRADC_ERR_NOMEM;
        goto done;
      }
      memcpy(*col[c], gradc_fn_res_data(f, (int)k), (size_t)r->size * sizeof(double));
    }
  }
  for (int o = 0; o < prog->nouts; o++) {
    Buf b = {0};
    operand(&b, d, row, roots[o]);
    t->out_row[o] = b.data;
    if (!b.data) {
      st = GRADC_ERR_NOMEM;
      goto done;
    }
  }
  st = GRADC_OK;
done:
  free(roots);
  free(seed);
  free(row);
  free(live);
  free(dir);
  free(tan);
  free(adj);
  free(res);
  if (st != GRADC_OK) {
    if (st == GRADC_ERR_NOMEM)
      gradc_error(g, st, "out of memory in trace");
    gradc_trace_free(g, t);
    return st;
  }
  *trace = t;
  return GRADC_OK;
}

void gradc_trace_free(Gradc *g, GradcTrace *t) {
  if (!t)
    return;
  for (int i = 0; t->rows && i < t->nrows; i++) {
    free(t->rows[i].def);
    free(t->rows[i].value);
    free(t->rows[i].tangent);
    free(t->rows[i].adjoint);
  }
  if (t->out_row)
    for (int o = 0; o < g->prog.nouts; o++)
      free(t->out_row[o]);
  free(t->out_row);
  free(t->rows);
  free(t);
}
