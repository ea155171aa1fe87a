/* vector.c: vector mode, forward and reverse sweeps that carry K
 * directions at once as a leading axis of every tangent (or adjoint): the
 * tangent of a node of shape S has shape [K]+S. The primal values are
 * computed once and shared by the K directions, and a matrix product's
 * tangent is a real matrix product (A @ x along K tangents of x is T @ A',
 * [K, n] by [n, n]: gradc_rt_matmul in libtcc's code, OpenBLAS's dgemm
 * with --blas), so a dense Jacobian of n columns costs n/K sweeps. This is the vector mode of Griewank and
 * Walther, "Evaluating Derivatives" (2nd ed., SIAM 2008), section 3.2, and
 * JAX's vmap of jvp/vjp.
 *
 * The rules are ad.c's: an elementwise node's term is ad_contrib with the
 * seed's extra leading axis broadcast against the primal partial (numpy's
 * trailing-axis broadcasting), so strong zeros (SPEC 1.6) and the kinks'
 * conventions are the same as in one direction; tensor operators shift
 * their axis (or slice spec) by one. Where a tensor rule has no batched form
 * (a transpose, some matrix products, a node of rank MAX_RANK whose tangent
 * would need rank MAX_RANK + 1) the node is differentiated one direction at
 * a time with ad_term on the K slices of the tangent, and the K results are
 * stacked back when a batched rule needs them: a tangent lives in either
 * form (Vec.v, Vec.s), converted lazily. An adjoint is kept whole where its
 * rank allows, so its terms are added in the order of one direction at a
 * time, and the results have the same bits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

/* A rule with no batched form: differentiate one direction at a time. */
#define SPLIT ((NodeId)(UINT32_MAX - 1))

typedef struct Vec {
  Dag *g;
  int K;
  uint32_t n;   /* nodes before the pass */
  NodeId *v;    /* the [K]+S form, or NO_NODE */
  NodeId **s;   /* the K directions apart (shape S each; NO_NODE: 0), or NULL.
                 * forward mode: v and s are the same tangent in two forms;
                 * reverse mode: s only where the rank leaves no room */
  int oom;
} Vec;

static int fits(const Dag *g, ShapeId s) { return shape_rank(g, s) < MAX_RANK; }

/* [K]+s (s of rank below MAX_RANK). */
static ShapeId vshape(Vec *V, ShapeId s) {
  const Shape *x = shape_get(V->g, s);
  Shape r = {.rank = x->rank + 1};
  r.dim[0] = V->K;
  for (int i = 0; i < x->rank; i++)
    r.dim[i + 1] = x->dim[i];
  return shape_intern(V->g, &r);
}

/* t of shape [K]+S seen as [K, 1, ..., 1]+S of rank 1 + rank, so that it
 * broadcasts against a primal value of that rank. */
static NodeId lift(Vec *V, NodeId t, int rank) {
  const Shape *x = shape_get(V->g, dag_shape(V->g, t));
  if (x->rank >= rank + 1)
    return t;
  Shape r = {.rank = rank + 1};
  r.dim[0] = x->dim[0];
  int pad = rank + 1 - x->rank;
  for (int i = 1; i <= pad; i++)
    r.dim[i] = 1;
  for (int i = 1; i < x->rank; i++)
    r.dim[pad + i] = x->dim[i];
  return dag_reshape(V->g, t, shape_intern(V->g, &r));
}

/* The spec of a slice/pad applied to the tangent: the same, with the
 * direction axis kept whole in front. */
static SliceSpec lead_spec(Vec *V, const SliceSpec *sp) {
  SliceSpec r;
  memset(&r, 0, sizeof r);
  r.rank = sp->rank + 1;
  r.drop = sp->drop << 1;
  r.from_end = sp->from_end << 1;
  r.negzero = sp->negzero;
  r.full[0] = r.len[0] = V->K;
  for (int i = 0; i < sp->rank; i++) {
    r.full[i + 1] = sp->full[i];
    r.start[i + 1] = sp->start[i];
    r.len[i + 1] = sp->len[i];
    r.step[i + 1] = sp->step[i];
    r.need[i + 1] = sp->need[i];
    r.shown[i + 1] = sp->shown[i];
  }
  return r;
}

/* The spec that takes direction k of a tensor of shape vs ([K]+S). */
static SliceSpec dir_spec(const Dag *g, ShapeId vs, int k) {
  const Shape *x = shape_get(g, vs);
  SliceSpec sp;
  memset(&sp, 0, sizeof sp);
  sp.rank = x->rank;
  sp.drop = 1;
  for (int i = 0; i < x->rank; i++)
    sp.full[i] = sp.len[i] = x->dim[i];
  sp.start[0] = k;
  sp.len[0] = 1;
  return sp;
}

static NodeId dir_of(Vec *V, NodeId t, int k) {
  SliceSpec sp = dir_spec(V->g, dag_shape(V->g, t), k);
  return dag_slice(V->g, t, &sp);
}

/* acc + piece at direction k of shape vs; with acc NO_NODE, the piece in
 * a tensor of -0 (the identity of +, as a tensor literal: every element
 * is then exactly its own direction's value, -0 included). */
static NodeId dir_put(Vec *V, NodeId acc, NodeId piece, int k, ShapeId vs, ShapeId s) {
  Dag *g = V->g;
  SliceSpec sp = dir_spec(g, vs, k);
  sp.negzero = 1;
  if (piece == NO_NODE)
    piece = dag_const(g, 0);
  if (dag_shape(g, piece) != s)
    piece = dag_bcast(g, piece, s);
  return acc == NO_NODE ? dag_pad(g, piece, &sp) : dag_scatter_add(g, acc, piece, &sp);
}

/* The sum over every axis but the directions': [K]+S -> [K]. With literal
 * dimensions through a [K, size(S)] view, which adds in the order of a
 * whole sum of S (the bits of one direction at a time). */
static NodeId sum_rest(Vec *V, NodeId t) {
  Dag *g = V->g;
  const Shape *x = shape_get(g, dag_shape(g, t));
  if (x->rank <= 1)
    return t;
  if (x->rank == 2)
    return dag_sum(g, t, 1);
  Shape r = {.rank = 2};
  r.dim[0] = x->dim[0];
  r.dim[1] = 1;
  for (int i = 1; i < x->rank && r.dim[1] >= 0; i++)
    r.dim[1] = x->dim[i] >= 0 ? r.dim[1] * x->dim[i] : -1;
  if (r.dim[1] >= 0)
    return dag_sum(g, dag_reshape(g, t, shape_intern(g, &r)), 1);
  while (t != NO_NODE && shape_rank(g, dag_shape(g, t)) > 1)
    t = dag_sum(g, t, shape_rank(g, dag_shape(g, t)) - 1);
  return t;
}

/* A reduction's result t (along axis of a tensor of shape xs; -1: all of
 * it) broadcast back to xs, with the direction axis in front if lead. */
static NodeId keep_lead(Vec *V, NodeId t, ShapeId xs, int axis, int lead) {
  ShapeId keep = shape_keepdims(V->g, xs, axis), to = xs;
  if (lead) {
    keep = vshape(V, keep);
    to = vshape(V, xs);
  }
  return dag_bcast(V->g, dag_reshape(V->g, t, keep), to);
}

/* Reverse mode's unbroadcast with the direction axis kept: the adjoint c
 * ([K]+S_c) of an operand of shape `to` broadcast to S_c. */
static NodeId unbroadcast_lead(Vec *V, NodeId c, ShapeId to) {
  Dag *g = V->g;
  ShapeId vto = vshape(V, to);
  if (c == NO_NODE || dag_shape(g, c) == vto)
    return c;
  if (to == SHAPE_SCALAR)
    return sum_rest(V, c);
  while (c != NO_NODE && shape_rank(g, dag_shape(g, c)) > shape_rank(g, to) + 1)
    c = dag_sum(g, c, 1);
  Shape t = *shape_get(g, to); /* a copy: interning may move the table */
  for (int i = 0; i < t.rank && c != NO_NODE; i++) {
    const Shape *a = shape_get(g, dag_shape(g, c));
    if (t.dim[i] == 1 && a->dim[i + 1] != 1)
      c = dag_reshape(g, dag_sum(g, c, i + 1), shape_keepdims(g, dag_shape(g, c), i + 1));
  }
  return c != NO_NODE && dag_shape(g, c) != vto ? dag_bcast(g, c, vto) : c;
}

/* ad_forward's rule for the non-differentiated maximum of the stable
 * forms (its tangent keeps the shifted tangent from overflowing), on a
 * tangent t with (lead) or without the direction axis. */
static NodeId maxr_tangent(Vec *V, NodeId n, NodeId t, int lead) {
  Dag *g = V->g;
  const Node nd = *dag_node(g, n);
  NodeId x = nd.arg[0];
  ShapeId xs = dag_shape(g, x);
  int axis = (int)nd.v.idx;
  NodeId mask = dag_bin(g, OP_EQ, x, keep_lead(V, n, xs, axis, 0));
  NodeId count = keep_lead(V, dag_sum(g, mask, axis), xs, axis, 0);
  NodeId w = dag_op(g, OP_WHERE, mask, dag_div(g, t, count), dag_const(g, 0));
  if (!lead)
    return dag_sum(g, w, axis);
  return axis >= 0 ? dag_sum(g, w, axis + 1) : sum_rest(V, w);
}

/* t ([K]+S) seen as [K, S..., 1] or [K, 1, S...]. */
static NodeId reshape_lead(Vec *V, NodeId t, int one_last) {
  const Shape *x = shape_get(V->g, dag_shape(V->g, t));
  Shape r = {.rank = x->rank + 1};
  for (int i = 0, j = 0; i < r.rank; i++)
    r.dim[i] = (one_last ? i == x->rank : i == 1) ? 1 : x->dim[j++];
  return dag_reshape(V->g, t, shape_intern(V->g, &r));
}

/* A vector v as a column [n, 1]. */
static NodeId column(Dag *g, NodeId v) {
  Shape r = {.rank = 2};
  r.dim[0] = shape_get(g, dag_shape(g, v))->dim[0];
  r.dim[1] = 1;
  return dag_reshape(g, v, shape_intern(g, &r));
}

/* t [K, m, p] as [K*m, p] times op(b), back to [K, m, q]: K matrix
 * products as one, if m is a literal size. */
static NodeId rows_matmul(Vec *V, NodeId t, NodeId b, int flags) {
  Dag *g = V->g;
  Shape x = *shape_get(g, dag_shape(g, t)); /* a copy: interning may move the table */
  if (x.dim[1] < 0)
    return SPLIT;
  Shape r = {.rank = 2};
  r.dim[0] = x.dim[0] * x.dim[1];
  r.dim[1] = x.dim[2];
  NodeId c = dag_matmul(g, dag_reshape(g, t, shape_intern(g, &r)), b, flags);
  if (c == NO_NODE)
    return NO_NODE;
  Shape o = {.rank = 3};
  o.dim[0] = x.dim[0];
  o.dim[1] = x.dim[1];
  o.dim[2] = shape_get(g, dag_shape(g, c))->dim[1];
  return dag_reshape(g, c, shape_intern(g, &o));
}

/* The matrix product's rules (ad.c's struct_rule) with the direction axis:
 * a tangent of a vector operand is a matrix of K rows, so its products are
 * matrix products; a tangent of a matrix operand contracts by an
 * elementwise product and a sum, or by rows_matmul. */
static NodeId matmul_rule(Vec *V, NodeId n, int i, NodeId t, int reverse) {
  Dag *g = V->g;
  const Node nd = *dag_node(g, n);
  NodeId a = nd.arg[0], b = nd.arg[1];
  int f = (int)nd.v.idx, ta = f & 1, tb = (f >> 1) & 1;
  if (dag_nonfinite(g, t) || dag_nonfinite(g, a) || dag_nonfinite(g, b))
    f |= MM_STRONG;
  int s = f & MM_STRONG;
  int ra = shape_rank(g, dag_shape(g, a)), rb = shape_rank(g, dag_shape(g, b));
  if (!reverse) {
    if (ra == 1 && rb == 1) /* dc = dA . b or a . dB */
      return dag_matmul(g, t, i == 0 ? b : a, s);
    if (ra == 2 && rb == 1) { /* c = op(A) b */
      if (i == 1)
        return dag_matmul(g, t, a, (ta ? 0 : 2) | s);
      return ta ? dag_sum(g, dag_smul(g, t, column(g, b)), 1) : dag_sum(g, dag_smul(g, t, b), 2);
    }
    if (ra == 1 && rb == 2) { /* c = a op(B) */
      if (i == 0)
        return dag_matmul(g, t, b, (tb ? 2 : 0) | s);
      return tb ? dag_sum(g, dag_smul(g, t, a), 2) : dag_sum(g, dag_smul(g, t, column(g, a)), 1);
    }
    if (i == 0 && !ta) /* dA op(B) */
      return rows_matmul(V, t, b, (tb ? 2 : 0) | s);
    return SPLIT;
  }
  if (ra == 1 && rb == 1)
    return dag_smul(g, reshape_lead(V, t, 1), i == 0 ? b : a);
  if (ra == 2 && rb == 1) {
    if (i == 1) /* op(A)' dc */
      return dag_matmul(g, t, a, (ta ? 2 : 0) | s);
    return ta ? dag_smul(g, column(g, b), reshape_lead(V, t, 0)) : dag_smul(g, reshape_lead(V, t, 1), b);
  }
  if (ra == 1 && rb == 2) {
    if (i == 0) /* op(B) dc */
      return dag_matmul(g, t, b, (tb ? 0 : 2) | s);
    return tb ? dag_smul(g, reshape_lead(V, t, 1), a) : dag_smul(g, column(g, a), reshape_lead(V, t, 0));
  }
  if (i == 0 && !ta) /* dC op(B)' */
    return rows_matmul(V, t, b, (tb ? 0 : 2) | s);
  return SPLIT;
}

/* The rule of tensor operator n with the direction axis: the tangent of n
 * from the tangent t of argument i, or the adjoint of argument i from n's
 * adjoint t; SPLIT if there is none. */
static NodeId tensor_rule(Vec *V, NodeId n, int i, NodeId t, int reverse) {
  Dag *g = V->g;
  const Node nd = *dag_node(g, n);
  ShapeId xs = dag_shape(g, nd.arg[0]), ns = nd.shape;
  int axis = (int)nd.v.idx;
  switch ((OpKind)nd.op) {
  case OP_BCAST:
    return reverse ? unbroadcast_lead(V, t, xs) : dag_bcast(g, lift(V, t, shape_rank(g, ns)), vshape(V, ns));
  case OP_RESHAPE:
    return dag_reshape(g, t, vshape(V, reverse ? xs : ns));
  case OP_SLICE: {
    SliceSpec sp = lead_spec(V, &g->slices[nd.v.idx]);
    return reverse ? dag_pad(g, t, &sp) : dag_slice(g, t, &sp);
  }
  case OP_PAD: {
    SliceSpec sp = lead_spec(V, &g->slices[nd.v.idx]);
    sp.negzero = 0;
    return reverse ? dag_slice(g, t, &sp) : dag_pad(g, t, &sp);
  }
  case OP_SCATTER_ADD: {
    if (i == 0)
      return t;
    SliceSpec sp = lead_spec(V, &g->slices[nd.v.idx]);
    return reverse ? dag_slice(g, t, &sp) : dag_pad(g, t, &sp);
  }
  case OP_SUM:
    if (reverse)
      return keep_lead(V, t, xs, axis, 1);
    return axis >= 0 ? dag_sum(g, t, axis + 1) : sum_rest(V, t);
  case OP_AMAX:
  case OP_PROD: {
    NodeId p = ad_reduce_partial(g, n);
    if (reverse)
      return dag_smul(g, keep_lead(V, t, xs, axis, 1), p);
    NodeId w = dag_smul(g, t, p);
    return axis >= 0 ? dag_sum(g, w, axis + 1) : sum_rest(V, w);
  }
  case OP_CUMSUM:
    return dag_cumsum(g, t, (int)(nd.v.idx >> 1) + 1, (int)(nd.v.idx & 1) ^ reverse);
  case OP_TAKE:
    if (i == 1)
      return NO_NODE;
    return reverse ? dag_scatter(g, t, nd.arg[1], axis + 1, vshape(V, xs)) : dag_take(g, t, nd.arg[1], axis + 1);
  case OP_SCATTER:
    if (i == 1)
      return NO_NODE;
    return reverse ? dag_take(g, t, nd.arg[1], axis + 1) : dag_scatter(g, t, nd.arg[1], axis + 1, vshape(V, ns));
  case OP_MATMUL:
    return matmul_rule(V, n, i, t, reverse);
  default: /* TRANSPOSE (no permutation that keeps the first axis) */
    return SPLIT;
  }
}

static int vec_init(Vec *V, Dag *g, int K) {
  memset(V, 0, sizeof *V);
  V->g = g;
  V->K = K;
  V->n = g->count;
  V->v = malloc((V->n ? V->n : 1) * sizeof *V->v);
  V->s = calloc(V->n ? V->n : 1, sizeof *V->s);
  if (!V->v || !V->s)
    return -1;
  for (uint32_t i = 0; i < V->n; i++)
    V->v[i] = NO_NODE;
  return 0;
}

static void vec_free_split(Vec *V) {
  for (uint32_t i = 0; V->s && i < V->n; i++)
    free(V->s[i]);
  free(V->s);
  V->s = NULL;
}

static NodeId *new_split(Vec *V, NodeId i) {
  if (!V->s[i]) {
    V->s[i] = malloc((size_t)V->K * sizeof **V->s);
    if (!V->s[i]) {
      V->oom = 1;
      return NULL;
    }
    for (int k = 0; k < V->K; k++)
      V->s[i][k] = NO_NODE;
  }
  return V->s[i];
}

/* K pieces of shape s (NO_NODE: 0) stacked into one [K]+s tensor. */
static NodeId stack(Vec *V, const NodeId *piece, ShapeId s) {
  ShapeId vs = vshape(V, s);
  NodeId acc = NO_NODE;
  for (int k = 0; k < V->K; k++)
    acc = dir_put(V, acc, piece[k], k, vs, s);
  return acc;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* The [K]+S form of node i's tangent (NO_NODE: 0); rank(S) < MAX_RANK. */
static NodeId fwd_vec(Vec *V, NodeId i) {
  if (V->v[i] == NO_NODE && V->s[i])
    V->v[i] = stack(V, V->s[i], dag_shape(V->g, i));
  return V->v[i];
}

/* Direction k of node i's tangent (NO_NODE: 0). */
static NodeId fwd_dir(Vec *V, NodeId i, int k) {
  if (!V->s[i] && V->v[i] != NO_NODE && new_split(V, i))
    for (int j = 0; j < V->K; j++)
      V->s[i][j] = dir_of(V, V->v[i], j);
  return V->s[i] ? V->s[i][k] : NO_NODE;
}

static int has_tangent(const Vec *V, NodeId i) { return V->v[i] != NO_NODE || V->s[i]; }

static NodeId settle(Dag *g, NodeId acc, ShapeId shape) {
  if (acc != NO_NODE && dag_is_const(g, acc) && dag_num(g, acc) == 0)
    return NO_NODE;
  if (acc != NO_NODE && dag_shape(g, acc) != shape) /* a broadcast operand */
    acc = dag_bcast(g, acc, shape);
  return acc;
}

/* Node i's tangent in the batched form, or SPLIT. */
static NodeId fwd_batched(Vec *V, NodeId i) {
  Dag *g = V->g;
  const Node nd = g->nodes[i];
  if (!fits(g, nd.shape))
    return SPLIT;
  for (int k = 0; k < nd.nargs; k++)
    if (has_tangent(V, nd.arg[k]) && !fits(g, dag_shape(g, nd.arg[k])))
      return SPLIT;
  if (nd.op == OP_MAXR)
    return settle(g, maxr_tangent(V, i, fwd_vec(V, nd.arg[0]), 1), vshape(V, nd.shape));
  NodeId acc = NO_NODE;
  int elem = OP_IS_ELEMWISE(nd.op);
  for (int k = 0; k < nd.nargs; k++) {
    NodeId t = fwd_vec(V, nd.arg[k]);
    if (t == NO_NODE)
      continue;
    NodeId c = elem ? ad_contrib(g, i, k, lift(V, t, shape_rank(g, nd.shape))) : tensor_rule(V, i, k, t, 0);
    if (c == SPLIT)
      return SPLIT;
    acc = ad_accumulate(g, acc, c);
  }
  return settle(g, acc, vshape(V, nd.shape));
}

/* Node i's tangent one direction at a time (ad_forward's rules). */
static void fwd_split(Vec *V, NodeId i) {
  Dag *g = V->g;
  const Node nd = g->nodes[i];
  NodeId *s = new_split(V, i);
  int any = 0;
  for (int k = 0; s && k < V->K; k++) {
    NodeId acc = NO_NODE;
    for (int j = 0; j < nd.nargs; j++) {
      NodeId t = fwd_dir(V, nd.arg[j], k);
      if (t == NO_NODE)
        continue;
      acc = ad_accumulate(g, acc, nd.op == OP_MAXR ? maxr_tangent(V, i, t, 0) : ad_term(g, i, j, t, 0));
    }
    s[k] = settle(g, acc, nd.shape);
    any |= s[k] != NO_NODE;
  }
  if (s && !any) {
    free(s);
    V->s[i] = NULL;
  }
}

NodeId *ad_forward_vector(Dag *g, int K, const NodeId *var_tangent, int nvars,
                          const NodeId *roots, int nroots, uint32_t *n_out) {
  Vec V;
  uint32_t n = g->count;
  int bad = vec_init(&V, g, K) < 0;
  uint8_t *live = ad_live(g, n, roots, nroots);
  if (!live || bad) {
    free(live);
    free(V.v);
    free(V.s);
    return NULL;
  }
  for (uint32_t i = 0; i < n && !V.oom && !g->oom; i++) {
    const Node nd = g->nodes[i];
    if (!live[i])
      continue;
    if (nd.op == OP_VAR) {
      NodeId t = nd.v.idx < nvars ? var_tangent[nd.v.idx] : NO_NODE;
      if (t != NO_NODE && !(dag_is_const(g, t) && dag_num(g, t) == 0))
        V.v[i] = t;
      continue;
    }
    if (nd.op != OP_MAXR && !ad_differentiable((OpKind)nd.op))
      continue;
    int any = 0;
    for (int k = 0; k < nd.nargs; k++)
      any |= has_tangent(&V, nd.arg[k]);
    if (!any)
      continue;
    NodeId t = fwd_batched(&V, i);
    if (t == SPLIT)
      fwd_split(&V, i);
    else
      V.v[i] = t;
  }
  for (int r = 0; r < nroots && !V.oom; r++) {
    NodeId x = roots[r];
    if (x >= n || !V.s[x] || V.v[x] != NO_NODE)
      continue;
    if (!fits(g, dag_shape(g, x))) {
      snprintf(g->err, sizeof g->err, "vector mode: a result of rank %d has no room for the directions",
               MAX_RANK);
      V.oom = 1;
      break;
    }
    fwd_vec(&V, x);
  }
  free(live);
  vec_free_split(&V);
  if (V.oom) {
    free(V.v);
    return NULL;
  }
  *n_out = n;
  return V.v;
}

/* ---- reverse ----------------------------------------------------------------------------- */

/* Node i's adjoint as K pieces. An adjoint is kept whole ([K]+S) where
 * its rank allows and as pieces where it does not, so a node has one form
 * or the other, and its terms are added in the order of one direction at a
 * time (the same bits). */
static NodeId *rev_split(Vec *V, NodeId i) {
  NodeId *s = new_split(V, i);
  for (int k = 0; s && V->v[i] != NO_NODE && k < V->K; k++)
    s[k] = dir_of(V, V->v[i], k);
  V->v[i] = NO_NODE;
  return s;
}

/* adjoint(a) += the term whose K pieces are c. */
static void rev_add_pieces(Vec *V, NodeId a, const NodeId *c) {
  Dag *g = V->g;
  int any = 0;
  for (int k = 0; k < V->K; k++)
    any |= c[k] != NO_NODE;
  if (!any)
    return;
  if (fits(g, dag_shape(g, a))) {
    V->v[a] = ad_accumulate(g, V->v[a], stack(V, c, dag_shape(g, a)));
    return;
  }
  NodeId *s = new_split(V, a);
  for (int k = 0; s && k < V->K; k++)
    s[k] = ad_accumulate(g, s[k], c[k]);
}

NodeId *ad_reverse_vector(Dag *g, int K, NodeId root, NodeId seed, uint32_t *n_out) {
  Vec V;
  uint32_t n = g->count;
  int bad = vec_init(&V, g, K) < 0;
  uint8_t *active = calloc(n ? n : 1, 1);
  NodeId *pieces = malloc((size_t)K * sizeof *pieces);
  if (!active || !pieces || bad) {
    free(active);
    free(pieces);
    free(V.v);
    free(V.s);
    return NULL;
  }
  /* active: depends on some variable through differentiable operators */
  for (uint32_t i = 0; i < n; i++) {
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_VAR)
      active[i] = 1;
    else if (ad_differentiable((OpKind)nd->op))
      for (int k = 0; k < nd->nargs; k++)
        active[i] |= active[nd->arg[k]];
  }
  if (root < n && active[root])
    V.v[root] = seed;
  for (uint32_t i = n; i-- > 0 && !V.oom && !g->oom;) {
    const Node nd = g->nodes[i];
    if (!has_tangent(&V, i) || nd.op == OP_VAR || !ad_differentiable((OpKind)nd.op))
      continue;
    int batched = fits(g, nd.shape);
    for (int k = 0; k < nd.nargs; k++)
      batched &= !active[nd.arg[k]] || fits(g, dag_shape(g, nd.arg[k]));
    NodeId t = batched ? V.v[i] : NO_NODE;
    int elem = OP_IS_ELEMWISE(nd.op);
    for (int k = 0; k < nd.nargs && !V.oom; k++) {
      NodeId a = nd.arg[k];
      if (!active[a])
        continue;
      NodeId c = SPLIT;
      if (batched)
        c = elem ? unbroadcast_lead(&V, ad_contrib(g, i, k, t), dag_shape(g, a)) : tensor_rule(&V, i, k, t, 1);
      if (c != SPLIT) {
        V.v[a] = ad_accumulate(g, V.v[a], c);
        continue;
      }
      /* one direction at a time (ad_reverse's rules) */
      NodeId *s = batched ? NULL : rev_split(&V, i);
      for (int d = 0; d < V.K && !V.oom; d++) {
        NodeId td = s ? s[d] : dir_of(&V, t, d);
        pieces[d] = td != NO_NODE ? ad_term(g, i, k, td, 1) : NO_NODE;
      }
      rev_add_pieces(&V, a, pieces);
    }
  }
  free(pieces);
  free(active);
  vec_free_split(&V);
  if (V.oom) {
    free(V.v);
    return NULL;
  }
  *n_out = n;
  return V.v;
}

/* ---- the public functions ---------------------------------------------------------------- */

/* "d" + out (+ "/d" + var): a result's name, malloc'd; NULL if out of memory */
static char *result_name(const char *out, const char *var) {
  Buf b = {0};
  if (var)
    buf_printf(&b, "d%s/d%s", out, var);
  else
    buf_printf(&b, "d%s", out);
  if (b.oom)
    buf_free(&b);
  return b.data;
}

/* The diagnostic of a function that could not be built. */
static void not_built(Gradc *g, const Dag *d, char **names, int nres, const char *what) {
  for (int i = 0; names && i < nres; i++)
    free(names[i]);
  if (d->err[0] && !d->oom)
    gradc_error(g, GRADC_ERR_USAGE, "%s", d->err);
  else
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while building a vector-mode %s", what);
}

/* K in range and every variable and output of rank below MAX_RANK. */
static int vector_ok(Gradc *g, int K, const int *wrt, int nwrt, int out) {
  Program *prog = &g->prog;
  if (K < 1 || K > GRADC_MAX_DIRECTIONS) {
    gradc_error(g, GRADC_ERR_USAGE, "vector mode: %d directions (1 to %d)", K, GRADC_MAX_DIRECTIONS);
    return 0;
  }
  for (int k = 0; k < nwrt; k++)
    if (wrt[k] < 0 || wrt[k] >= prog->nvars) {
      gradc_error(g, GRADC_ERR_USAGE, "vector mode: no variable %d", wrt[k]);
      return 0;
    }
  for (int k = 0; k < nwrt; k++)
    if (!fits(prog->dag, prog->vars[wrt[k]].shape)) {
      gradc_error(g, GRADC_ERR_USAGE, "vector mode: '%s' has rank %d, which leaves no room for the directions",
                  prog->vars[wrt[k]].name, MAX_RANK);
      return 0;
    }
  for (int o = 0; o < prog->nouts; o++)
    if ((out < 0 || o == out) && !fits(prog->dag, dag_shape(prog->dag, prog->outs[o].node))) {
      gradc_error(g, GRADC_ERR_USAGE, "vector mode: output '%s' has rank %d, which leaves no room for the directions",
                  prog->outs[o].name, MAX_RANK);
      return 0;
    }
  return 1;
}

static char *vector_key(const char *kind, int K, int out, const int *wrt, int nwrt) {
  char k[64];
  snprintf(k, sizeof k, "%s/%d", kind, K);
  return api_fn_key(k, out, wrt, nwrt);
}

GradcFn *gradc_fn_jvp_vector(Gradc *g, const int *wrt_in, int nwrt, int K) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  if (!vector_ok(g, K, wrt, nwrt, -1)) {
    free(wrt);
    return NULL;
  }
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  Vec V = {.g = d, .K = K}; /* for vshape */
  int no = prog->nouts, nres = 2 * no, ok = 1;
  char *key = vector_key("jvp", K, 0, wrt_in ? wrt : NULL, nwrt);
  NodeId *seed = malloc(((size_t)prog->nvars + 1) * sizeof *seed);
  NodeId *roots = calloc((size_t)nres + 1, sizeof *roots);
  char **names = calloc((size_t)nres + 1, sizeof *names);
  ShapeId *tshape = malloc(((size_t)nwrt + 1) * sizeof *tshape);
  NodeId *tan = NULL;
  uint32_t n = 0;
  ok = key && seed && roots && names && tshape;
  for (int i = 0; ok && i < prog->nvars; i++)
    seed[i] = NO_NODE;
  for (int k = 0; ok && k < nwrt; k++) { /* the tangent arguments are variables too */
    tshape[k] = vshape(&V, prog->vars[wrt[k]].shape);
    seed[wrt[k]] = dag_var(d, prog->nvars + k, tshape[k]);
  }
  for (int o = 0; ok && o < no; o++)
    roots[o] = prog->outs[o].node;
  d->err[0] = 0;
  if (ok)
    tan = ad_forward_vector(d, K, seed, prog->nvars, roots, no, &n);
  ok = ok && tan;
  for (int o = 0; ok && o < no; o++) {
    NodeId t = roots[o] < n ? tan[roots[o]] : NO_NODE;
    ShapeId vs = vshape(&V, dag_shape(d, roots[o]));
    roots[no + o] = t == NO_NODE ? dag_bcast(d, dag_const(d, 0), vs) : t;
    names[o] = strdup(prog->outs[o].name);
    names[no + o] = result_name(prog->outs[o].name, NULL);
    ok = names[o] && names[no + o];
  }
  free(tan);
  free(seed);
  GradcFn *f = NULL;
  if (ok) {
    f = api_fn_shaped(g, key, roots, names, nres, nwrt, wrt, tshape, NULL);
    key = NULL;
  } else {
    not_built(g, d, names, nres, "JVP");
  }
  free(key);
  free(names);
  free(roots);
  free(tshape);
  free(wrt);
  return f;
}

GradcFn *gradc_fn_vjp_vector(Gradc *g, int out, const int *wrt_in, int nwrt, int K) {
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return NULL;
  Program *prog = &g->prog;
  if (out < 0 || out >= prog->nouts) {
    gradc_error(g, GRADC_ERR_USAGE, "vector mode: no output %d", out);
    free(wrt);
    return NULL;
  }
  if (!vector_ok(g, K, wrt, nwrt, out)) {
    free(wrt);
    return NULL;
  }
  Dag *d = prog->dag;
  Vec V = {.g = d, .K = K};
  const Output *o = &prog->outs[out];
  int nres = 1 + nwrt, ok = 1;
  char *key = vector_key("vjp", K, out, wrt_in ? wrt : NULL, nwrt);
  NodeId *roots = calloc((size_t)nres + 1, sizeof *roots);
  char **names = calloc((size_t)nres + 1, sizeof *names);
  ShapeId cshape = vshape(&V, dag_shape(d, o->node));
  NodeId ct = dag_var(d, prog->nvars, cshape); /* the cotangent argument */
  uint32_t n = 0;
  ok = key && roots && names && ct != NO_NODE;
  d->err[0] = 0;
  NodeId *adj = ok ? ad_reverse_vector(d, K, o->node, ct, &n) : NULL;
  ok = adj != NULL;
  if (ok) {
    roots[0] = o->node;
    names[0] = strdup(o->name);
    ok = names[0] != NULL;
  }
  for (int k = 0; ok && k < nwrt; k++) {
    const Var *v = &prog->vars[wrt[k]];
    NodeId a = v->node < n ? adj[v->node] : NO_NODE;
    roots[1 + k] = a == NO_NODE ? dag_bcast(d, dag_const(d, 0), vshape(&V, v->shape)) : a;
    names[1 + k] = result_name(o->name, v->name);
    ok = names[1 + k] != NULL;
  }
  free(adj);
  GradcFn *f = NULL;
  if (ok) {
    f = api_fn_shaped(g, key, roots, names, nres, 1, NULL, &cshape, o->name);
    key = NULL;
  } else {
    not_built(g, d, names, nres, "VJP");
  }
  free(key);
  free(names);
  free(roots);
  free(wrt);
  return f;
}
