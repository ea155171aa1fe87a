/* stable.c: numbers at the edges (SPEC 1.6). The guarded forms of
 * logsumexp, softmax and log_softmax, and the rewrites that turn unstable
 * forms into stable ones wherever they appear. The rewrites run inside
 * dag_op() (through identity()), so they see through definitions and
 * inlined calls: `p = softmax(z)` then `log(p)` is log_softmax(z).
 *
 *   log(softmax(x))         -> log_softmax(x)   (log(exp(u) / d) -> u - log(d))
 *   log(sigmoid(x))         -> -softplus(-x)    (log_sigmoid(x))
 *   log(1 - sigmoid(x))     -> -softplus(x)     (log_sigmoid(-x))
 *   log(1 + exp(x))         -> softplus(x)      (via log1p(exp(x)))
 *   log(1 + x)              -> log1p(x)
 *   exp(x) - 1, -1 + exp(x) -> expm1(x)
 *   log(exp(x))             -> x
 *   log(sum(exp(x), axis))  -> logsumexp(x, axis)
 *
 * Every rewrite gives the same function, as accurately or more so, and
 * never turns a NaN or infinite result into a finite one where the
 * original was not also a rounding artefact (overflow of exp(x) for large
 * x, log of an underflowed softmax entry). */
#include <math.h>

#include "ir.h"

/* The maximum along axis, or 0 where that maximum is not finite: shifting
 * by it keeps every finite entry's exp in range, and leaves -inf and +inf
 * entries as they are, so logsumexp of all -inf is -inf and of any +inf is
 * +inf (the unguarded shift gives inf - inf = NaN). m - m == 0 holds for
 * finite m only; the simplifier keeps it (x - x folds only for finite
 * constants). The shift is not differentiated: the result does not depend
 * on it. */
static NodeId shift(Dag *g, NodeId x, int axis) {
  NodeId m = dag_maxr(g, x, axis);
  NodeId finite = dag_bin(g, OP_EQ, dag_sub(g, m, m), dag_const(g, 0));
  NodeId s = dag_op(g, OP_WHERE, finite, m, dag_const(g, 0));
  return dag_reshape(g, s, axis < 0 ? SHAPE_SCALAR : shape_keepdims(g, dag_shape(g, x), axis));
}

/* sum(exp(u), axis), kept with the reduced axis of size 1 (for broadcasting). */
static NodeId sum_exp(Dag *g, NodeId u, ShapeId xs, int axis) {
  NodeId s = dag_sum(g, dag_un(g, OP_EXP, u), axis);
  return dag_reshape(g, s, axis < 0 ? SHAPE_SCALAR : shape_keepdims(g, xs, axis));
}

/* log of a sum of exponentials, not rewritten again into logsumexp */
static NodeId log_raw(Dag *g, NodeId s) {
  g->no_rewrite++;
  NodeId r = dag_un(g, OP_LOG, s);
  g->no_rewrite--;
  return r;
}

NodeId dag_logsumexp(Dag *g, NodeId x, int axis) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId xs = dag_shape(g, x);
  NodeId m = shift(g, x, axis);
  NodeId r = dag_add(g, m, log_raw(g, sum_exp(g, dag_sub(g, x, m), xs, axis)));
  return dag_reshape(g, r, shape_drop(g, xs, axis));
}

/* Subtract the (guarded) maximum first, normalise after: softmax([1e16,
 * 1e16]) is [0.5, 0.5], where exp(x - logsumexp(x)) gives [1, 1]. */
NodeId dag_softmax(Dag *g, NodeId x, int axis) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  NodeId u = dag_sub(g, x, shift(g, x, axis));
  return dag_div(g, dag_un(g, OP_EXP, u), sum_exp(g, u, dag_shape(g, x), axis));
}

NodeId dag_log_softmax(Dag *g, NodeId x, int axis) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  NodeId u = dag_sub(g, x, shift(g, x, axis));
  return dag_sub(g, u, log_raw(g, sum_exp(g, u, dag_shape(g, x), axis)));
}

/* Is u = x - shift(x) already, so that sum(exp(u)) cannot overflow? */
static int is_shifted(const Dag *g, NodeId u) {
  const Node *n = &g->nodes[u];
  if (n->op != OP_SUB)
    return 0;
  const Node *m = &g->nodes[n->arg[1]];
  if (m->op == OP_RESHAPE)
    m = &g->nodes[m->arg[0]];
  return m->op == OP_WHERE && g->nodes[m->arg[1]].op == OP_MAXR &&
         g->nodes[m->arg[1]].arg[0] == n->arg[0];
}

/* Is n sum(exp(u)) for a shifted u (possibly kept with its axis)? It is
 * then at least 1 and finite where x is. */
static int is_shifted_sum_exp(const Dag *g, NodeId n) {
  const Node *s = &g->nodes[n];
  if (s->op == OP_RESHAPE)
    s = &g->nodes[s->arg[0]];
  if (s->op != OP_SUM)
    return 0;
  const Node *e = &g->nodes[s->arg[0]];
  return e->op == OP_EXP && is_shifted(g, e->arg[0]);
}

int stable_finite(const Dag *g, const Node *k) {
  switch ((OpKind)k->op) {
  case OP_EXP: /* exp(x - max(x)) <= 1 */
    return is_shifted(g, k->arg[0]);
  case OP_LOG: /* log(sum(exp(x - max(x)))) in [0, log n] */
    return is_shifted_sum_exp(g, k->arg[0]);
  case OP_DIV: /* e / sum(exp(x - max(x))): a divisor of at least 1 */
    return is_shifted_sum_exp(g, k->arg[1]);
  default:
    return 0;
  }
}

static int is_const(const Dag *g, NodeId n, double v) {
  return dag_is_const(g, n) && dag_num(g, n) == v;
}

NodeId stable_rewrite(Dag *g, OpKind op, NodeId a, NodeId b) {
  if (g->no_rewrite)
    return NO_NODE;
  const Node na = g->nodes[a]; /* a copy: constructors may move g->nodes */
  switch (op) {
  case OP_LOG:
    switch ((OpKind)na.op) {
    case OP_EXP: /* log(exp(x)) -> x */
      return na.arg[0];
    case OP_DIV: /* log(exp(u) / d) -> u - log(d): log(softmax(x)) */
      if (g->nodes[na.arg[0]].op == OP_EXP) {
        NodeId u = g->nodes[na.arg[0]].arg[0], d = na.arg[1];
        NodeId s = g->nodes[d].op == OP_RESHAPE ? g->nodes[d].arg[0] : d;
        int shifted = g->nodes[s].op == OP_SUM && g->nodes[s].arg[0] == na.arg[0] && is_shifted(g, u);
        return dag_sub(g, u, shifted ? log_raw(g, d) : dag_un(g, OP_LOG, d));
      }
      break;
    case OP_SIGMOID: /* log(sigmoid(x)) -> log_sigmoid(x) = -softplus(-x) */
      return dag_neg(g, dag_un(g, OP_SOFTPLUS, dag_neg(g, na.arg[0])));
    case OP_SUB: /* log(1 - sigmoid(x)) -> log_sigmoid(-x) = -softplus(x) */
      if (is_const(g, na.arg[0], 1) && g->nodes[na.arg[1]].op == OP_SIGMOID)
        return dag_neg(g, dag_un(g, OP_SOFTPLUS, g->nodes[na.arg[1]].arg[0]));
      break;
    case OP_ADD: /* log(1 + x) -> log1p(x) (and then log1p(exp(x)) -> softplus(x)) */
      if (is_const(g, na.arg[0], 1))
        return dag_un(g, OP_LOG1P, na.arg[1]);
      if (is_const(g, na.arg[1], 1))
        return dag_un(g, OP_LOG1P, na.arg[0]);
      break;
    case OP_SUM: /* log(sum(exp(x)[, axis])) -> logsumexp(x[, axis]) */
      if (g->nodes[na.arg[0]].op == OP_EXP)
        return dag_logsumexp(g, g->nodes[na.arg[0]].arg[0], (int)na.v.idx);
      break;
    case OP_RESHAPE: /* a sum kept with its axis (keepdims) */
      if (g->nodes[na.arg[0]].op == OP_SUM) {
        NodeId s = na.arg[0];
        if (g->nodes[g->nodes[s].arg[0]].op == OP_EXP) {
          NodeId l = dag_logsumexp(g, g->nodes[g->nodes[s].arg[0]].arg[0], (int)g->nodes[s].v.idx);
          return dag_reshape(g, l, na.shape);
        }
      }
      break;
    default:
      break;
    }
    break;
  case OP_LOG1P: /* log1p(exp(x)) -> softplus(x) */
    if (na.op == OP_EXP)
      return dag_un(g, OP_SOFTPLUS, na.arg[0]);
    break;
  case OP_SUB: /* exp(x) - 1 -> expm1(x) */
    if (na.op == OP_EXP && is_const(g, b, 1))
      return dag_un(g, OP_EXPM1, na.arg[0]);
    break;
  case OP_ADD: /* -1 + exp(x), exp(x) + -1 -> expm1(x) */
    if (na.op == OP_EXP && is_const(g, b, -1))
      return dag_un(g, OP_EXPM1, na.arg[0]);
    if (is_const(g, a, -1) && g->nodes[b].op == OP_EXP)
      return dag_un(g, OP_EXPM1, g->nodes[b].arg[0]);
    break;
  default:
    break;
  }
  return NO_NODE;
}
