/* separable.c: is a result a sum over the rows of the data?
 *
 * The data dimension is the first symbolic dimension of the inputs (as for
 * train's mini-batches). Every node is classified, in id order (children
 * first, no recursion), as
 *   CONST  the same for every row set: no data input, maybe the size N,
 *   ROW    leading dimension N, row i a function of row i of the inputs only
 *          (elementwise operators, products with constant matrices, sums
 *          and softmaxes along the other axes, gathers from constant
 *          tables...),
 *   SUM    a linear function of a sum over the rows of ROW terms,
 *   AFFINE a SUM plus a CONST: a * (sum or mean over the rows) + terms that
 *          do not depend on the data (mean(rowterm) + lambda*sum(W^2), and
 *          its gradient), then only linear operations with CONST factors,
 *   BAD    anything else (a reduction over N fed back into the rows, as
 *          batch normalisation's mean does; a product of two sums; a sum
 *          plus a constant through a nonlinear function).
 * Each class also carries the power p of N the value is proportional to
 * (mean(x) is N^-1 times a sum), so a block of n rows, evaluated with N
 * bound to n, gives (n/N)^p times its share of the whole. A ROW or SUM
 * result is therefore assembled from blocks (rows concatenated, sums added)
 * and a CONST one computed once with N bound to the whole data's size. An
 * AFFINE result is split (sep_split) into its SUM part, assembled from the
 * blocks, and its CONST part, computed once (parallel.c): were the whole
 * expression evaluated per block, every block would add the regulariser
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "parallel.h"

static const char *const why_text[] = {
    [SEP_WHY_NONE] = "",
    [SEP_WHY_SHAPE] = "N is not only the leading dimension of a value",
    [SEP_WHY_MIX] = "a value per row is combined with a reduction over the rows (as batch "
                    "normalisation's mean over N)",
    [SEP_WHY_SUMSUM] = "two reductions over the rows are multiplied, divided or passed through a "
                       "nonlinear function",
    [SEP_WHY_ADDCONST] = "a term that does not depend on the rows is added to a sum over them "
                         "(each block would count it)",
    [SEP_WHY_POWER] = "terms scale with different powers of the size N, or N enters a nonlinear "
                      "function",
    [SEP_WHY_ROWOP] = "an operation mixes the rows (a maximum, product, cumulative sum, slice, "
                      "transpose or index along N)",
    [SEP_WHY_AFFINE] = "a sum over the rows plus a term that does not depend on them is multiplied by "
                       "another sum or passed through a nonlinear function",
};

const char *sep_why_text(int why) {
  return why >= 0 && why < (int)(sizeof why_text / sizeof *why_text) ? why_text[why] : "";
}

int sep_data_dim(const Gradc *g) {
  const Program *prog = &g->prog;
  for (int i = 0; i < prog->nvars; i++) {
    const Shape *s = shape_get(prog->dag, prog->vars[i].shape);
    if (prog->vars[i].kind == VAR_INPUT && s->rank > 0 && s->dim[0] < 0 && !dim_is_derived(s->dim[0]))
      return (int)~s->dim[0];
  }
  return -1;
}

/* Does dimension d depend on symbolic dimension n (itself or derived)? */
static int dim_uses(const Dag *d, int64_t dim, int n) {
  int64_t stack[256];
  int top = 0, steps = 0;
  stack[top++] = dim;
  while (top > 0 && steps++ < 4096) { /* a derived dimension: its atoms */
    int64_t x = stack[--top];
    if (x >= 0)
      continue;
    if (!dim_is_derived(x)) {
      if (~x == n)
        return 1;
      continue;
    }
    const DimExpr *e = &d->dims[~x - DIM_DERIVED];
    for (int k = 0; k < e->n; k++) {
      if (top == (int)(sizeof stack / sizeof *stack))
        return 1; /* too deep to tell: say it does (the safe answer) */
      stack[top++] = e->atom[k];
    }
  }
  return top > 0;
}

/* 0: N nowhere; 1: N leading and nowhere else; -1: N elsewhere. */
static int shape_rows(const Dag *d, ShapeId sid, int n) {
  const Shape *s = shape_get(d, sid);
  int lead = s->rank > 0 && s->dim[0] == ~(int64_t)n;
  for (int k = lead; k < s->rank; k++)
    if (dim_uses(d, s->dim[k], n))
      return -1;
  if (!lead && s->rank > 0 && dim_uses(d, s->dim[0], n))
    return -1;
  return lead;
}

static SepClass bad(int why, NodeId at) { return (SepClass){.kind = SEP_BAD, .why = (uint8_t)why, .origin = at}; }

/* The slice (or pad) keeps all of axis 0 in place. */
static int keeps_rows(const SliceSpec *s) {
  return !(s->drop & 1u) && !(s->from_end & 1u) && s->start[0] == 0 && slice_step(s, 0) == 1 &&
         s->len[0] == s->full[0];
}

/* Node i (nd) with an AFFINE argument: the operations that are linear in
 * it, with every other argument a SUM of the same power or a CONST factor,
 * keep it AFFINE (sep_split rewrites exactly these); anything else is BAD. */
static SepClass classify_affine(const Dag *d, const Node *nd, const SepClass *a, NodeId i, int rows) {
  int nsum = 0, nrow = 0, p = 0, havep = 0;
  for (int k = 0; k < nd->nargs; k++) {
    nrow += a[k].kind == SEP_ROW;
    nsum += a[k].kind == SEP_SUM || a[k].kind == SEP_AFFINE;
  }
  if (rows || nrow)
    return bad(SEP_WHY_MIX, i);
  SepClass same = {.kind = SEP_AFFINE};
  switch (nd->op) {
  case OP_ADD:
  case OP_SUB:
  case OP_SCATTER_ADD: /* terms added: their SUM parts must scale alike */
    for (int k = 0; k < 2; k++)
      if (a[k].kind != SEP_CONST) {
        if (havep && a[k].p != p)
          return bad(SEP_WHY_POWER, i);
        p = a[k].p, havep = 1;
      }
    same.p = (int8_t)p;
    return same;
  case OP_NEG:
  case OP_STOP:
  case OP_BCAST:
  case OP_RESHAPE:
  case OP_TRANSPOSE:
  case OP_SUM:
  case OP_CUMSUM:
  case OP_SLICE:
  case OP_PAD:
    return a[0];
  case OP_MUL:
  case OP_SMUL:
  case OP_MATMUL: /* by a factor that does not depend on the rows */
    if (nsum > 1)
      return bad(SEP_WHY_AFFINE, i);
    same.p = (int8_t)(a[0].p + a[1].p);
    return same;
  case OP_DIV:
    if (a[1].kind != SEP_CONST)
      return bad(SEP_WHY_AFFINE, i);
    same.p = (int8_t)(a[0].p - a[1].p);
    return same;
  case OP_TAKE:
  case OP_SCATTER: /* linear in the table, indices that do not depend on the rows */
    if (a[0].kind != SEP_AFFINE || a[1].kind != SEP_CONST || a[1].p)
      return bad(SEP_WHY_AFFINE, i);
    return a[0];
  default:
    (void)d;
    return bad(SEP_WHY_AFFINE, i);
  }
}

static SepClass classify(const Dag *d, const SepClass *c, NodeId i, int n, int nvars) {
  const Node *nd = &d->nodes[i];
  int rows = shape_rows(d, nd->shape, n);
  SepClass a[3];
  int naff = 0;
  for (int k = 0; k < nd->nargs; k++) {
    a[k] = c[nd->arg[k]];
    if (a[k].kind == SEP_BAD)
      return a[k];
    naff += a[k].kind == SEP_AFFINE;
  }
  if (rows < 0)
    return bad(SEP_WHY_SHAPE, i);
  (void)nvars;
  if (naff)
    return classify_affine(d, nd, a, i, rows);
  switch (nd->op) {
  case OP_CONST:
    return (SepClass){.kind = SEP_CONST};
  case OP_VAR:
    return (SepClass){.kind = rows ? SEP_ROW : SEP_CONST};
  case OP_DIM:
    return (SepClass){.kind = SEP_CONST, .p = nd->v.idx == n ? 1 : 0};
  case OP_IOTA:
    return rows ? bad(SEP_WHY_ROWOP, i) : (SepClass){.kind = SEP_CONST};
  default:
    break;
  }
  if (OP_IS_ELEMWISE(nd->op)) {
    int nrow = 0, nsum = 0;
    for (int k = 0; k < nd->nargs; k++) {
      nrow += a[k].kind == SEP_ROW;
      nsum += a[k].kind == SEP_SUM;
    }
    if (nrow && nsum)
      return bad(SEP_WHY_MIX, i);
    int kind = nrow ? SEP_ROW : nsum ? SEP_SUM : SEP_CONST;
    switch (nd->op) {
    case OP_ADD:
    case OP_SUB:
      if (nsum == 1) /* a sum plus a term without the rows: split, the term computed once */
        return (SepClass){.kind = SEP_AFFINE, .p = a[0].kind == SEP_SUM ? a[0].p : a[1].p};
      if (a[0].p != a[1].p)
        return bad(SEP_WHY_POWER, i);
      return (SepClass){.kind = (int8_t)kind, .p = a[0].p};
    case OP_NEG:
      return a[0];
    case OP_MUL:
    case OP_SMUL:
      if (nsum > 1)
        return bad(SEP_WHY_SUMSUM, i);
      return (SepClass){.kind = (int8_t)kind, .p = (int8_t)(a[0].p + a[1].p)};
    case OP_DIV:
      if (a[1].kind == SEP_SUM)
        return bad(SEP_WHY_SUMSUM, i);
      return (SepClass){.kind = (int8_t)kind, .p = (int8_t)(a[0].p - a[1].p)};
    case OP_WHERE: { /* linear in its branches: where(c, a, 0) keeps a's power of N */
      if (nsum || a[0].p)
        return bad(nsum ? SEP_WHY_SUMSUM : SEP_WHY_POWER, i);
      int z1 = dag_is_const(d, nd->arg[1]) && dag_num(d, nd->arg[1]) == 0;
      int z2 = dag_is_const(d, nd->arg[2]) && dag_num(d, nd->arg[2]) == 0;
      if (!z1 && !z2 && a[1].p != a[2].p)
        return bad(SEP_WHY_POWER, i);
      return (SepClass){.kind = (int8_t)kind, .p = z1 ? a[2].p : a[1].p};
    }
    default:
      if (nsum)
        return bad(SEP_WHY_SUMSUM, i);
      for (int k = 0; k < nd->nargs; k++)
        if (a[k].p != 0)
          return bad(SEP_WHY_POWER, i);
      return (SepClass){.kind = (int8_t)kind};
    }
  }
  SepClass x = a[0];
  int64_t ax = nd->v.idx;
  switch (nd->op) {
  case OP_BCAST:
    if (x.kind == SEP_SUM && rows)
      return bad(SEP_WHY_MIX, i);
    if (x.kind == SEP_CONST && rows)
      x.kind = SEP_ROW;
    return x;
  case OP_RESHAPE:
    if (x.kind == SEP_ROW && !rows)
      return bad(SEP_WHY_ROWOP, i);
    return x;
  case OP_TRANSPOSE:
    return x.kind == SEP_ROW ? bad(SEP_WHY_ROWOP, i) : x;
  case OP_SUM:
    if (x.kind == SEP_ROW && (ax <= 0 || !rows))
      x.kind = SEP_SUM;
    return x;
  case OP_CUMSUM:
    if (x.kind == SEP_ROW && ax < 2) /* 2*axis + reversed: axis 0, or all */
      return bad(SEP_WHY_ROWOP, i);
    return x;
  case OP_MAXR:
  case OP_AMAX:
  case OP_ARGMAX:
  case OP_PROD:
    if (x.kind == SEP_ROW && (ax <= 0 || !rows))
      return bad(SEP_WHY_ROWOP, i);
    if (x.kind == SEP_SUM)
      return bad(SEP_WHY_SUMSUM, i);
    if (x.p != 0)
      return bad(SEP_WHY_POWER, i);
    return x;
  case OP_ONEHOT:
    if (x.kind == SEP_SUM)
      return bad(SEP_WHY_SUMSUM, i);
    return x.p ? bad(SEP_WHY_POWER, i) : x;
  case OP_SLICE:
  case OP_PAD:
    if (x.kind == SEP_ROW && !keeps_rows(&d->slices[ax]))
      return bad(SEP_WHY_ROWOP, i);
    return x;
  case OP_SCATTER_ADD: {
    SepClass y = a[1];
    if ((x.kind == SEP_ROW || y.kind == SEP_ROW) && !keeps_rows(&d->slices[ax]))
      return bad(SEP_WHY_ROWOP, i);
    if ((x.kind == SEP_ROW) != (y.kind == SEP_ROW) && (x.kind == SEP_SUM || y.kind == SEP_SUM))
      return bad(SEP_WHY_MIX, i);
    if ((x.kind == SEP_SUM) != (y.kind == SEP_SUM))
      return (SepClass){.kind = SEP_AFFINE, .p = x.kind == SEP_SUM ? x.p : y.p};
    if (x.p != y.p)
      return bad(SEP_WHY_POWER, i);
    if (y.kind == SEP_ROW)
      x.kind = SEP_ROW;
    return x;
  }
  case OP_MATMUL: {
    SepClass y = a[1];
    int fl = (int)ax;
    int ra = shape_rank(d, dag_shape(d, nd->arg[0])), rb = shape_rank(d, dag_shape(d, nd->arg[1]));
    int8_t p = (int8_t)(x.p + y.p);
    if (x.kind == SEP_SUM && y.kind == SEP_SUM)
      return bad(SEP_WHY_SUMSUM, i);
    if ((x.kind == SEP_SUM && y.kind == SEP_ROW) || (x.kind == SEP_ROW && y.kind == SEP_SUM))
      return bad(SEP_WHY_MIX, i);
    if (x.kind != SEP_ROW && y.kind != SEP_ROW)
      return (SepClass){.kind = x.kind == SEP_SUM || y.kind == SEP_SUM ? SEP_SUM : SEP_CONST, .p = p};
    int a_free = x.kind == SEP_ROW && ra == 2 && !(fl & 1);  /* N on A's free axis */
    int a_contr = x.kind == SEP_ROW && !a_free;
    int b_contr = y.kind == SEP_ROW && (rb == 1 || !(fl & 2));
    if (a_free && y.kind == SEP_CONST)
      return (SepClass){.kind = SEP_ROW, .p = p};
    if (a_contr && b_contr)
      return (SepClass){.kind = SEP_SUM, .p = p};
    return bad(SEP_WHY_ROWOP, i);
  }
  case OP_TAKE: {
    SepClass y = a[1];
    if (x.kind == SEP_SUM || y.kind == SEP_SUM)
      return bad(SEP_WHY_MIX, i);
    if (y.p)
      return bad(SEP_WHY_POWER, i);
    if (x.kind == SEP_ROW && ax >= 1 && y.kind == SEP_CONST)
      return x;
    if (x.kind == SEP_CONST && y.kind == SEP_ROW && ax == 0 && rows)
      return (SepClass){.kind = SEP_ROW, .p = x.p}; /* a lookup per row */
    if (x.kind == SEP_CONST && y.kind == SEP_CONST)
      return x;
    return bad(SEP_WHY_ROWOP, i);
  }
  case OP_SCATTER: {
    SepClass y = a[1];
    if (x.kind == SEP_SUM || y.kind == SEP_SUM)
      return bad(SEP_WHY_MIX, i);
    if (y.p)
      return bad(SEP_WHY_POWER, i);
    if (x.kind == SEP_ROW && ax >= 1 && y.kind == SEP_CONST && rows)
      return x;
    if (x.kind == SEP_ROW && y.kind == SEP_ROW && ax == 0 && !rows)
      return (SepClass){.kind = SEP_SUM, .p = x.p}; /* the adjoint of a lookup per row */
    if (x.kind == SEP_CONST && y.kind == SEP_CONST)
      return x;
    return bad(SEP_WHY_ROWOP, i);
  }
  default:
    return bad(SEP_WHY_ROWOP, i);
  }
}

SepClass *sep_classify(const Gradc *g, int *data_dim) {
  const Dag *d = g->prog.dag;
  int n = sep_data_dim(g);
  if (data_dim)
    *data_dim = n;
  if (n < 0 || !d)
    return NULL;
  SepClass *c = calloc((size_t)d->count + 1, sizeof *c);
  if (!c)
    return NULL;
  for (NodeId i = 0; i < d->count; i++) {
    c[i] = classify(d, c, i, n, g->prog.nvars);
    if (c[i].p > 8 || c[i].p < -8) /* keeps int8_t from overflowing */
      c[i] = bad(SEP_WHY_POWER, i);
  }
  return c;
}

/* ---- the two parts of an AFFINE result ----------------------------------- */

static NodeId fit(Dag *d, NodeId x, ShapeId s) {
  return x == NO_NODE || dag_shape(d, x) == s ? x : dag_bcast(d, x, s);
}

static NodeId zeros(Dag *d, ShapeId s) { return fit(d, dag_const(d, 0), s); }

/* a + b or a - b of two parts (NO_NODE: zero), shaped s */
static NodeId add_parts(Dag *d, OpKind op, NodeId a, NodeId b, ShapeId s) {
  if (b == NO_NODE)
    return fit(d, a, s);
  if (a == NO_NODE)
    return fit(d, op == OP_SUB ? dag_neg(d, b) : b, s);
  return fit(d, dag_op(d, op, a, b, NO_NODE), s);
}

int sep_split(Gradc *g, const SepClass *c, const NodeId *roots, int nroots, NodeId *rowpart,
              NodeId *constpart) {
  Dag *d = g->prog.dag;
  NodeId top = 0;
  for (int k = 0; k < nroots; k++)
    top = roots[k] > top ? roots[k] : top;
  NodeId *rp = malloc(((size_t)top + 1) * sizeof *rp), *cp = malloc(((size_t)top + 1) * sizeof *cp);
  if (!rp || !cp) {
    free(rp);
    free(cp);
    return -1;
  }
  /* every node up to the last root, children first: its (row, const) parts */
  for (NodeId i = 0; i <= top; i++) {
    rp[i] = cp[i] = NO_NODE;
    if (c[i].kind == SEP_SUM)
      rp[i] = i;
    else if (c[i].kind == SEP_CONST)
      cp[i] = i;
    if (c[i].kind != SEP_AFFINE)
      continue;
    Node nd = d->nodes[i]; /* a copy: the constructors below may move the nodes */
    NodeId r[3] = {NO_NODE, NO_NODE, NO_NODE}, k[3] = {NO_NODE, NO_NODE, NO_NODE};
    for (int a = 0; a < nd.nargs; a++) {
      r[a] = rp[nd.arg[a]];
      k[a] = cp[nd.arg[a]];
    }
    switch (nd.op) {
    case OP_ADD:
    case OP_SUB:
      rp[i] = add_parts(d, (OpKind)nd.op, r[0], r[1], nd.shape);
      cp[i] = add_parts(d, (OpKind)nd.op, k[0], k[1], nd.shape);
      break;
    case OP_SCATTER_ADD: /* the accumulator plus the piece placed in it: zeros where a part is none */
      for (int pass = 0; pass < 2; pass++) {
        NodeId *x = pass ? k : r, args[2];
        if (x[0] == NO_NODE && x[1] == NO_NODE)
          continue;
        for (int a = 0; a < 2; a++)
          args[a] = x[a] != NO_NODE ? x[a] : zeros(d, dag_shape(d, nd.arg[a]));
        (pass ? cp : rp)[i] = dag_with_args(d, i, args);
      }
      break;
    default: { /* linear in the one argument that has a row part (classify_affine) */
      int at = 0;
      while (at + 1 < nd.nargs && c[nd.arg[at]].kind == SEP_CONST)
        at++;
      for (int pass = 0; pass < 2; pass++) {
        NodeId x = pass ? k[at] : r[at], args[3];
        if (x == NO_NODE)
          continue;
        for (int a = 0; a < nd.nargs; a++)
          args[a] = a == at ? x : nd.arg[a];
        (pass ? cp : rp)[i] = dag_with_args(d, i, args);
      }
      break;
    }
    }
  }
  for (int k = 0; k < nroots; k++) {
    rowpart[k] = rp[roots[k]];
    constpart[k] = cp[roots[k]];
  }
  free(rp);
  free(cp);
  return d->oom ? -1 : 0;
}

int gradc_separable(Gradc *g, int out, char *why, size_t nwhy) {
  if (why && nwhy)
    why[0] = 0;
  if (!g->compiled || out < 0 || out >= g->prog.nouts) {
    if (why && nwhy)
      snprintf(why, nwhy, "there is no such output");
    return 0;
  }
  const Program *prog = &g->prog;
  const char *name = prog->outs[out].name;
  int n;
  SepClass *c = sep_classify(g, &n);
  if (n < 0) {
    if (why && nwhy)
      snprintf(why, nwhy, "%s: no input has a symbolic leading dimension (the rows)", name);
    free(c);
    return 0;
  }
  if (!c) {
    if (why && nwhy)
      snprintf(why, nwhy, "out of memory");
    return 0;
  }
  SepClass r = c[prog->outs[out].node];
  int ok = 0;
  const char *dn = prog->dimnames[n];
  const char *plus = r.kind == SEP_AFFINE ? " plus a term that does not depend on the rows (computed once)" : "";
  if (r.kind == SEP_AFFINE) /* as a sum, + 4 */
    r.kind = SEP_SUM, ok = 4;
  if (r.kind == SEP_SUM && r.p == 0) {
    ok += 1;
    if (why && nwhy)
      snprintf(why, nwhy, "%s is a sum over %s of terms per row%s", name, dn, plus);
  } else if (r.kind == SEP_SUM && r.p == -1) {
    ok += 2;
    if (why && nwhy)
      snprintf(why, nwhy, "%s is a mean over %s of terms per row%s", name, dn, plus);
  } else if (r.kind == SEP_SUM) {
    ok += 3;
    if (why && nwhy)
      snprintf(why, nwhy, "%s is %s^%d times a sum over %s of terms per row%s", name, dn, r.p, dn, plus);
  } else if (why && nwhy && r.kind == SEP_BAD) {
    /* the first definition (in source order) that is not separable */
    const char *where = name;
    Span sp = prog->outs[out].span;
    for (int k = 0; k < prog->ndefs; k++)
      if (c[prog->defs[k].node].kind == SEP_BAD && c[prog->defs[k].node].origin == r.origin) {
        where = prog->defs[k].name;
        sp = prog->defs[k].span;
        break;
      }
    snprintf(why, nwhy, "%s is not a sum over %s of terms per row: in '%s' (line %d), %s", name, dn, where,
             sp.line, sep_why_text(r.why));
  } else if (why && nwhy) {
    snprintf(why, nwhy, "%s is not a sum over %s of terms per row: it is %s", name, dn,
             r.kind == SEP_ROW ? "a value per row" : "independent of the rows");
  }
  free(c);
  return ok;
}
