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

/* The pieces of a guarded reduction along axis (-1: all), each kept with
 * the reduced axis of size 1 for broadcasting:
 *   m      the maximum (not differentiated: the results do not depend on it)
 *   fin    m is finite (m - m == 0; the simplifier keeps x - x, SPEC 1.6)
 *   u      x - m where m is finite (<= 0, -inf at a -inf entry), else 0
 *   s      sum(exp(u)) where m is finite (at least 1: the maximum's term),
 *          else 1, so exp(u), 1/s and log(s) are always finite
 * A row of all -inf (a fully masked row) or with a +inf therefore never
 * puts an inf or a NaN into the derivative code, of its own row or of the
 * others; its value comes from m. */
typedef struct Guard {
  NodeId m, fin, u, s;
} Guard;

/* An axis of a vector is the whole of it (as dag_sum takes it). */
static int norm_axis(const Dag *g, NodeId x, int axis) {
  return shape_rank(g, dag_shape(g, x)) <= 1 ? -1 : axis;
}

static int guard(Dag *g, NodeId x, int axis, Guard *r) {
  ShapeId ks = axis < 0 ? SHAPE_SCALAR : shape_keepdims(g, dag_shape(g, x), axis);
  NodeId zero = dag_const(g, 0), one = dag_const(g, 1);
  r->m = dag_reshape(g, dag_maxr(g, x, axis), ks);
  r->fin = dag_bin(g, OP_EQ, dag_sub(g, r->m, r->m), zero);
  r->u = dag_op(g, OP_WHERE, r->fin, dag_sub(g, x, r->m), zero);
  NodeId se = dag_reshape(g, dag_sum(g, dag_un(g, OP_EXP, r->u), axis), ks);
  r->s = dag_op(g, OP_WHERE, r->fin, se, one);
  return r->s != NO_NODE;
}

/* logsumexp: m + log(s) where m is finite, else m (all -inf: -inf; any
 * +inf: +inf) */
NodeId dag_logsumexp(Dag *g, NodeId x, int axis) {
  Guard r;
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  axis = norm_axis(g, x, axis);
  if (!guard(g, x, axis, &r))
    return NO_NODE;
  NodeId v = dag_op(g, OP_WHERE, r.fin, dag_add(g, r.m, dag_un(g, OP_LOG, r.s)),
                   dag_un(g, OP_STOP, r.m)); /* +-inf, NaN: no derivative in either mode */
  return dag_reshape(g, v, shape_drop(g, dag_shape(g, x), axis));
}

/* Subtract the maximum first, normalise after: softmax([1e16, 1e16]) is
 * [0.5, 0.5], where exp(x - logsumexp(x)) gives [1, 1]. A row whose
 * maximum is not finite is NaN, as exp(x)/sum(exp(x)) is in C. */
NodeId dag_softmax(Dag *g, NodeId x, int axis) {
  Guard r;
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  axis = norm_axis(g, x, axis);
  if (!guard(g, x, axis, &r))
    return NO_NODE;
  NodeId v = dag_div(g, dag_un(g, OP_EXP, r.u), r.s);
  return dag_op(g, OP_WHERE, r.fin, v, dag_sub(g, r.m, r.m));
}

NodeId dag_log_softmax(Dag *g, NodeId x, int axis) {
  Guard r;
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  axis = norm_axis(g, x, axis);
  if (!guard(g, x, axis, &r))
    return NO_NODE;
  NodeId v = dag_sub(g, r.u, dag_un(g, OP_LOG, r.s));
  return dag_op(g, OP_WHERE, r.fin, v, dag_sub(g, r.m, r.m));
}

/* Is u a Guard's u, where(fin, x - max(x), 0)? Its exp is at most 1. The
 * x of the maximum, or NO_NODE. */
static NodeId shifted_x(const Dag *g, NodeId u) {
  const Node *w = &g->nodes[u];
  if (w->op != OP_WHERE || !dag_is_const(g, w->arg[2]) || dag_num(g, w->arg[2]) != 0)
    return NO_NODE;
  const Node *d = &g->nodes[w->arg[1]];
  if (d->op != OP_SUB)
    return NO_NODE;
  const Node *mx = &g->nodes[d->arg[1]];
  if (mx->op == OP_RESHAPE)
    mx = &g->nodes[mx->arg[0]];
  return mx->op == OP_MAXR && mx->arg[0] == d->arg[0] ? d->arg[0] : NO_NODE;
}

static int is_shifted(const Dag *g, NodeId u) { return shifted_x(g, u) != NO_NODE; }

/* Is n a Guard's s, where(fin, sum(exp(u)), 1): at least 1 and finite? */
static int is_guarded_sum(const Dag *g, NodeId n) {
  const Node *w = &g->nodes[n];
  if (w->op != OP_WHERE || !dag_is_const(g, w->arg[2]) || dag_num(g, w->arg[2]) != 1)
    return 0;
  const Node *s = &g->nodes[w->arg[1]];
  if (s->op == OP_RESHAPE)
    s = &g->nodes[s->arg[0]];
  if (s->op != OP_SUM)
    return 0;
  const Node *e = &g->nodes[s->arg[0]];
  return e->op == OP_EXP && is_shifted(g, e->arg[0]);
}

static const Node *skip_shape(const Dag *g, const Node *n) {
  if (n->op == OP_BCAST)
    n = &g->nodes[n->arg[0]];
  return n->op == OP_RESHAPE ? &g->nodes[n->arg[0]] : n;
}

/* Is n the number of maxima of x, sum(x == max(x)) along the maximum's
 * axis, broadcast back (the partial of max, ad.c's tangent of the stable
 * forms' shift), with x finite? Then it is at least 1: the maximum of
 * finite numbers is one of them. */
static int is_max_count(const Dag *g, NodeId n) {
  const Node *c = skip_shape(g, &g->nodes[n]);
  if (c->op != OP_SUM || g->nodes[c->arg[0]].op != OP_EQ)
    return 0;
  const Node *eq = &g->nodes[c->arg[0]];
  for (int i = 0; i < 2; i++) {
    NodeId x = eq->arg[i];
    const Node *m = skip_shape(g, &g->nodes[eq->arg[1 - i]]);
    if ((m->op == OP_MAXR || m->op == OP_AMAX) && m->arg[0] == x && m->v.idx == c->v.idx &&
        !(g->nodes[x].flags & NF_NONFINITE))
      return 1;
  }
  return 0;
}

int stable_finite(const Dag *g, const Node *k) {
  switch ((OpKind)k->op) {
  case OP_EXP: /* exp(x - max(x)) <= 1 */
    return is_shifted(g, k->arg[0]);
  case OP_LOG: /* log(s), s in [1, n] */
    return is_guarded_sum(g, k->arg[0]);
  case OP_DIV: /* e / s; t / (the number of maxima) */
    return is_guarded_sum(g, k->arg[1]) || is_max_count(g, k->arg[1]);
  default:
    return 0;
  }
}

/* The x and axis of a dag_softmax(x, axis) node, or NO_NODE. */
static NodeId softmax_of(const Dag *g, NodeId n, int *axis) {
  const Node *w = &g->nodes[n];
  if (w->op != OP_WHERE)
    return NO_NODE;
  const Node *d = &g->nodes[w->arg[1]];
  if (d->op != OP_DIV || g->nodes[d->arg[0]].op != OP_EXP || !is_guarded_sum(g, d->arg[1]))
    return NO_NODE;
  NodeId u = g->nodes[d->arg[0]].arg[0], x = shifted_x(g, u);
  if (x == NO_NODE)
    return NO_NODE;
  const Node *mx = &g->nodes[g->nodes[g->nodes[u].arg[1]].arg[1]];
  if (mx->op == OP_RESHAPE)
    mx = &g->nodes[mx->arg[0]];
  *axis = (int)mx->v.idx;
  return x;
}

static int is_const(const Dag *g, NodeId n, double v) {
  return dag_is_const(g, n) && dag_num(g, n) == v;
}

NodeId stable_rewrite(Dag *g, OpKind op, NodeId a, NodeId b) {
  const Node na = g->nodes[a]; /* a copy: constructors may move g->nodes */
  switch (op) {
  case OP_LOG:
    switch ((OpKind)na.op) {
    case OP_EXP: /* log(exp(x)) -> x */
      return na.arg[0];
    case OP_WHERE: { /* log(softmax(x)) -> log_softmax(x) */
      int axis;
      NodeId x = softmax_of(g, a, &axis);
      if (x != NO_NODE)
        return dag_log_softmax(g, x, axis);
      break;
    }
    case OP_DIV: /* log(exp(u) / d) -> u - log(d): a softmax written out */
      if (g->nodes[na.arg[0]].op == OP_EXP)
        return dag_sub(g, g->nodes[na.arg[0]].arg[0], dag_un(g, OP_LOG, na.arg[1]));
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
