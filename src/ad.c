/* ad.c: forward and reverse mode as DAG transforms. One rule per operator
 * gives the chain-rule term "partial of n w.r.t. argument i, times seed",
 * built with the ordinary dag_ constructors, so derivative code shares the
 * primal values, is folded and hash-consed like everything else, and can be
 * differentiated again (Hessians are forward over reverse).
 *
 * Forward mode reads a rule as tangent(n) = sum_i term(n, i, tangent(arg_i));
 * reverse mode as adjoint(arg_i) += term(n, i, adjoint(n)), micrograd's +=.
 * Every term is seed times partial by dag_smul: strong zeros (SPEC 1.6), so
 * a zero seed (the branch where() did not take, an element that reaches no
 * output, a zero tangent) adds exactly 0 even where the partial is
 * infinite or NaN, and a zero partial stops an infinite seed; forward and
 * reverse mode then agree. Only factors that may be non-finite pay for it.
 * Kinks follow PyTorch (SPEC 1.5): relu'(0) = 0, abs'(0) = 0, sign' = 0,
 * max/min with equal arguments split 0.5/0.5, where() sends the derivative
 * to the chosen branch only. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "ir.h"

#define C(x) dag_const(g, (x))
#define ARG(k) (nd.arg[k])

/* c*x where x may be c2*y with c2 a power of two >= 2: (c*c2)*y, the same
 * bits when |c| >= 1 (c2*y is exact or overflows, and then so does
 * c*c2*y), one product fewer (100*(2*s) is 200*s). */
static NodeId scaled(Dag *g, NodeId c, NodeId x) {
  const Node *m = dag_node(g, x);
  double k = dag_num(g, c);
  if (m->op != OP_MUL || !(fabs(k) >= 1) || !isfinite(k))
    return NO_NODE;
  for (int side = 0; side < 2; side++) {
    NodeId c2 = m->arg[side], y = m->arg[1 - side];
    if (!dag_is_const(g, c2))
      continue;
    int e;
    double v = dag_num(g, c2), f = frexp(v, &e);
    if (fabs(v) >= 2 && fabs(f) == 0.5 && isfinite(k * v))
      return dag_mul(g, dag_const(g, k * v), y);
  }
  return NO_NODE;
}

/* Is r a constant or a plain product with a constant factor (so that -r
 * is that product with the constant negated: the same bits)? */
static int sign_foldable(const Dag *g, NodeId r) {
  const Node *m = dag_node(g, r);
  return m->op == OP_CONST ||
         (m->op == OP_MUL && (dag_is_const(g, m->arg[0]) || dag_is_const(g, m->arg[1])));
}

/* -r, the sign folded into a constant factor where there is one (-(2*b)
 * is (-2)*b: no negation left in the code). */
static NodeId negated(Dag *g, NodeId r) {
  const Node *m = dag_node(g, r);
  if (m->op == OP_MUL && sign_foldable(g, r)) {
    int k = dag_is_const(g, m->arg[0]) ? 0 : 1;
    NodeId c = dag_const(g, -dag_num(g, m->arg[k])), y = m->arg[1 - k];
    return k == 0 ? dag_mul(g, c, y) : dag_mul(g, y, c);
  }
  return dag_neg(g, r);
}

/* seed * p, the chain rule's product, with strong zeros (dag_smul, whose
 * zero is +0: left alone where a factor may be non-finite). A negated
 * factor of a plain product comes out (-a*b is -(a*b) exactly) and
 * goes into a constant of the partial (u*((-2)*x), not -u*(2*x)), or of
 * the seed, where there is one; a constant folds into a power-of-two
 * factor (scaled: 200*s, not 100*(2*s)). */
static NodeId chain_product(Dag *g, NodeId seed, NodeId p) {
  if (seed == NO_NODE || p == NO_NODE || dag_nonfinite(g, seed) || dag_nonfinite(g, p))
    return dag_smul(g, seed, p); /* out of nodes; a strong product: its 0 is +0 */
  int neg = 0;
  if (dag_node(g, seed)->op == OP_NEG) {
    seed = dag_node(g, seed)->arg[0];
    neg ^= 1;
  }
  if (dag_node(g, p)->op == OP_NEG) {
    p = dag_node(g, p)->arg[0];
    neg ^= 1;
  }
  if (neg && sign_foldable(g, p)) {
    p = negated(g, p);
    neg = 0;
  } else if (neg && sign_foldable(g, seed)) {
    seed = negated(g, seed);
    neg = 0;
  }
  if (seed == NO_NODE || p == NO_NODE)
    return NO_NODE;
  NodeId r = NO_NODE;
  if (dag_is_const(g, seed))
    r = scaled(g, seed, p);
  else if (dag_is_const(g, p))
    r = scaled(g, p, seed);
  if (r == NO_NODE)
    r = dag_smul(g, seed, p);
  return neg ? dag_neg(g, r) : r;
}

NodeId ad_contrib(Dag *g, NodeId n, int i, NodeId seed) {
  const Node nd = *dag_node(g, n); /* a copy: constructors may move g->nodes */
  NodeId a = ARG(0), b = nd.nargs > 1 ? ARG(1) : NO_NODE, p = NO_NODE;
  switch ((OpKind)nd.op) {
  case OP_ADD:
    return seed;
  case OP_SUB:
    if (nd.arg[0] == nd.arg[1]) /* x - x: 0 wherever x is finite; an infinite */
      return NO_NODE;           /* seed would give inf - inf (pow(x - x, 0.5)) */
    return i == 0 ? seed : dag_neg(g, seed);
  case OP_NEG:
    return dag_neg(g, seed);
  case OP_MUL:
  case OP_SMUL:
    p = i == 0 ? b : a;
    break;
  case OP_DIV: /* d/da = 1/b; d/db = -a/b^2 = -n/b */
    if (a == b) /* x/x is 1 wherever it is defined: the two terms cancel
                 * exactly, even where 1/x is infinite (asin(x/x) at 1) */
      return NO_NODE;
    if (dag_nonzero(g, b)) /* a constant or a dimension: no 0*inf */
      return i == 0 ? dag_div(g, seed, b)
                    : dag_neg(g, dag_div(g, dag_mul(g, seed, n), b));
    p = dag_div(g, C(1), b);
    if (i == 1)
      p = dag_neg(g, dag_mul(g, n, p));
    break;
  case OP_POW:
    if (i == 0) { /* b a^(b-1), 0 where b == 0 (PyTorch); an integer b stays
                   * an integer power */
      p = dag_smul(g, b, dag_pow(g, a, dag_sub(g, b, C(1))));
      if (!dag_is_const(g, b)) { /* at a == 0 not differentiated along b, as
                                  * d/db is 0 there: a symmetric Hessian */
        NodeId bs = dag_un(g, OP_STOP, b);
        NodeId p0 = dag_smul(g, bs, dag_pow(g, a, dag_sub(g, bs, C(1))));
        p = dag_op(g, OP_WHERE, dag_bin(g, OP_EQ, a, C(0)), p0, p);
      }
    } else { /* n log(a), and 0 where a == 0 (PyTorch) */
      p = dag_op(g, OP_WHERE, dag_bin(g, OP_EQ, a, C(0)), C(0),
                 dag_smul(g, n, dag_un(g, OP_LOG, a))); /* n == 0: 0, log(a) NaN or not */
    }
    break;
  case OP_EXP: p = n; break;
  case OP_LOG: p = dag_div(g, C(1), a); break;
  case OP_SQRT: p = dag_div(g, C(0.5), n); break;
  case OP_ABS: p = dag_un(g, OP_SIGN, a); break;            /* abs'(0) = 0 */
  case OP_SIN: p = dag_un(g, OP_COS, a); break;
  case OP_COS: p = dag_neg(g, dag_un(g, OP_SIN, a)); break;
  case OP_TAN: p = dag_add(g, C(1), dag_mul(g, n, n)); break;
  case OP_ASIN:
  case OP_ACOS: /* +-1/sqrt(1 - a^2) */
    p = dag_div(g, C(nd.op == OP_ASIN ? 1 : -1),
                dag_un(g, OP_SQRT, dag_sub(g, C(1), dag_mul(g, a, a))));
    break;
  case OP_ATAN: p = dag_div(g, C(1), dag_add(g, C(1), dag_mul(g, a, a))); break;
  case OP_SINH: p = dag_un(g, OP_COSH, a); break;
  case OP_COSH: p = dag_un(g, OP_SINH, a); break;
  case OP_TANH: p = dag_sub(g, C(1), dag_mul(g, n, n)); break;
  case OP_ERF: /* 2/sqrt(pi) exp(-a^2) */
    p = dag_mul(g, C(1.1283791670955126), dag_un(g, OP_EXP, dag_neg(g, dag_mul(g, a, a))));
    break;
  case OP_SIGMOID: p = dag_mul(g, n, dag_sub(g, C(1), n)); break;
  case OP_RELU: /* relu'(0) = 0: the seed passes where a > 0 only */
    return dag_op(g, OP_WHERE, dag_bin(g, OP_GT, a, C(0)), seed, C(0));
  case OP_SOFTPLUS: p = dag_un(g, OP_SIGMOID, a); break;
  case OP_LOG1P: p = dag_div(g, C(1), dag_add(g, C(1), a)); break;
  case OP_EXPM1: p = dag_add(g, n, C(1)); break;
  case OP_ATAN2: { /* atan2(y, x): d/dy = x/(x^2+y^2), d/dx = -y/(x^2+y^2),
                    * which cancel for atan2(x, x) (constant where defined);
                    * divided through by the larger of |x|, |y| so that
                    * neither overflows: atan2(y, inf) has slope 0, not NaN */
    if (a == b)
      return NO_NODE;
    NodeId xbig = dag_bin(g, OP_GE, dag_un(g, OP_ABS, b), dag_un(g, OP_ABS, a));
    NodeId q = dag_div(g, a, b), qi = dag_div(g, b, a);         /* y/x, x/y */
    NodeId dx = dag_add(g, b, dag_mul(g, a, q)), dy = dag_add(g, a, dag_mul(g, b, qi));
    p = i == 0 ? dag_op(g, OP_WHERE, xbig, dag_div(g, C(1), dx), dag_div(g, qi, dy))
               : dag_neg(g, dag_op(g, OP_WHERE, xbig, dag_div(g, q, dx), dag_div(g, C(1), dy)));
    break;
  }
  case OP_MAX:
  case OP_MIN: { /* the larger (smaller) argument gets it; a tie splits 0.5/0.5 */
    NodeId self = i == 0 ? a : b, other = i == 0 ? b : a;
    OpKind wins = nd.op == OP_MAX ? OP_GT : OP_LT;
    p = dag_add(g, dag_bin(g, wins, self, other),
                dag_mul(g, C(0.5), dag_bin(g, OP_EQ, a, b)));
    break;
  }
  case OP_MOD: /* a - b floor(a/b): d/da = 1, d/db = -floor(a/b) */
    if (i == 0)
      return seed;
    p = dag_neg(g, dag_un(g, OP_FLOOR, dag_div(g, a, b)));
    break;
  case OP_LOGADDEXP: /* d/da = exp(a - n) = sigmoid(a - b); a tie splits 0.5/0.5 */
    p = i == 0 ? dag_un(g, OP_SIGMOID, dag_sub(g, a, b)) : dag_un(g, OP_SIGMOID, dag_sub(g, b, a));
    break;
  case OP_WHERE: /* the chosen branch only; the condition gets nothing */
    if (i == 0)
      return NO_NODE;
    return i == 1 ? dag_op(g, OP_WHERE, a, seed, C(0))
                  : dag_op(g, OP_WHERE, a, C(0), seed);
  default: /* constants, variables, comparisons, sign: derivative 0 */
    return NO_NODE;
  }
  /* strong zero (SPEC 1.6): a zero seed or a zero partial gives exactly 0,
   * even where the other is infinite; plain where both are finite */
  return chain_product(g, seed, p);
}

static int differentiable(OpKind op) {
  OpClass c = op_info[op].cls;
  if (op == OP_MAXR || op == OP_ARGMAX || op == OP_ONEHOT) /* derivative 0 */
    return 0;
  return c == OC_INFIX || c == OC_FUNC || c == OC_STRUCT;
}

/* x as a column (k, 1) or a row (1, k), for outer products. */
static NodeId as_matrix(Dag *g, NodeId x, int column) {
  const Shape *s = shape_get(g, dag_shape(g, x));
  Shape r = {.rank = 2};
  r.dim[0] = column ? s->dim[0] : 1;
  r.dim[1] = column ? 1 : s->dim[0];
  return dag_reshape(g, x, shape_intern(g, &r));
}

/* n (a reduction of x along axis) kept with the axis, broadcast back to
 * x's shape. */
static NodeId keep_bcast(Dag *g, NodeId n, ShapeId xs, int axis) {
  if (axis >= 0)
    n = dag_reshape(g, n, shape_keepdims(g, xs, axis));
  return dag_bcast(g, n, xs);
}

/* y moved one place along axis, zero filled: out_i = y_(i-1) (by = 1) or
 * y_(i+1) (by = -1). */
static NodeId shift(Dag *g, NodeId y, int axis, int by) {
  ShapeId ys = dag_shape(g, y);
  const Shape *s = shape_get(g, ys);
  int64_t n = s->dim[axis];
  if (n == 1)
    return dag_bcast(g, dag_const(g, 0), ys);
  SliceSpec sp = {0};
  sp.rank = s->rank;
  for (int k = 0; k < s->rank; k++)
    sp.full[k] = sp.len[k] = s->dim[k];
  sp.len[axis] = n < 0 ? dim_derive(g, n, -1, 1) : n - 1; /* n >= 1 */
  if (sp.len[axis] == DIM_FAIL)
    return NO_NODE;
  sp.start[axis] = by > 0 ? 0 : 1;
  NodeId piece = dag_slice(g, y, &sp);
  sp.start[axis] = by > 0 ? 1 : 0;
  return dag_pad(g, piece, &sp);
}

/* The products of the entries of y before (reversed: after) each one along
 * axis, without the entry itself: a LINSCAN h_i = y_(i-1) h_(i-1) from
 * h_0 = 1. No division, so exact at zeros and free of the 0/0 and inf/inf
 * of prod/y_i where the product underflows or overflows. */
static NodeId exclusive_prod(Dag *g, NodeId y, int axis, int reversed) {
  ShapeId ys = dag_shape(g, y);
  const Shape *s = shape_get(g, ys);
  SliceSpec sp = {0};               /* b: 1 at the first entry, 0 elsewhere */
  sp.rank = s->rank;
  for (int k = 0; k < s->rank; k++)
    sp.full[k] = sp.len[k] = s->dim[k];
  sp.len[axis] = 1;
  if (reversed && s->dim[axis] < 0) {
    sp.start[axis] = -1;
    sp.from_end = 1u << axis;
  } else {
    sp.start[axis] = reversed ? s->dim[axis] - 1 : 0;
  }
  Shape one = *s;
  one.dim[axis] = 1;
  NodeId first = dag_pad(g, dag_bcast(g, dag_const(g, 1), shape_intern(g, &one)), &sp);
  return dag_linscan(g, shift(g, y, axis, reversed ? -1 : 1), first, axis, reversed);
}

/* The partial derivatives of a reduction node n of x (shape of x):
 *   max: [x == max] / count(x == max), ties split equally;
 *   prod: the product of the others, as the product of the entries before
 *     and of those after (exclusive_prod); over the whole tensor, the same
 *     along the last axis times that of the products along it, and so on
 *     to the first axis (row-major order). */
static NodeId reduce_partial(Dag *g, const Node *nd, NodeId n) {
  NodeId x = nd->arg[0];
  ShapeId xs = dag_shape(g, x);
  int axis = (int)nd->v.idx;
  if (nd->op == OP_AMAX) {
    NodeId mask = dag_bin(g, OP_EQ, x, keep_bcast(g, n, xs, axis));
    return dag_div(g, mask, keep_bcast(g, dag_sum(g, mask, axis), xs, axis));
  }
  /* The running products overflow or underflow on the way where the
   * partial itself is finite (prod([1e200, 1e200, 1e-200, 1e-200]): the
   * products of the others are 1e-200 and 1e200, but 1e200*1e200 is inf
   * and 1e-200*1e-200 is 0). So each entry is split exactly into a power of
   * two s = 2^k (k = round(log2 |x|), at most 1023; k = 0 for 0, inf and
   * NaN) and m = x / s, |m| in [0.7, 2); the partials are those of the m's,
   * whose running products stay in range (up to about 2000 entries), times
   * 2^(K - k), K the sum of the k's over the reduction, applied in two
   * halves of the same sign with strong products (a partial that is 0
   * stays 0). k is constant: no derivative flows through it. */
  NodeId half1 = NO_NODE, half2 = NO_NODE;
  if (!g->plain_prod) {
    NodeId ax = dag_un(g, OP_ABS, x), zero = dag_const(g, 0), two = dag_const(g, 2);
    NodeId k = dag_un(g, OP_ROUND, dag_mul(g, dag_un(g, OP_LOG, ax), dag_const(g, 1 / log(2.0))));
    k = dag_bin(g, OP_MIN, k, dag_const(g, 1023));
    NodeId finite = dag_bin(g, OP_LE, ax, dag_const(g, DBL_MAX));
    k = dag_op(g, OP_WHERE, dag_bin(g, OP_GT, ax, zero), dag_op(g, OP_WHERE, finite, k, zero), zero);
    k = dag_un(g, OP_STOP, k);
    NodeId big = axis >= 0 ? keep_bcast(g, dag_sum(g, k, axis), xs, axis) : dag_bcast(g, dag_sum(g, k, -1), xs);
    NodeId d = dag_sub(g, big, k), d1 = dag_un(g, OP_FLOOR, dag_mul(g, d, dag_const(g, 0.5)));
    half1 = dag_pow(g, two, d1);
    half2 = dag_pow(g, two, dag_sub(g, d, d1));
    x = dag_div(g, x, dag_pow(g, two, k));
  }
  int rank = shape_rank(g, xs);
  int from = axis >= 0 ? axis : rank - 1, to = axis >= 0 ? axis : 0;
  NodeId p = NO_NODE, y = x;
  for (int k = from; k >= to; k--) {
    NodeId others = dag_smul(g, exclusive_prod(g, y, k, 0), exclusive_prod(g, y, k, 1));
    others = dag_bcast(g, others, xs);
    p = p == NO_NODE ? others : dag_smul(g, p, others);
    if (k > to) /* the products along axis k, kept as a dimension of 1 */
      y = dag_reshape(g, dag_prod(g, y, k), shape_keepdims(g, dag_shape(g, y), k));
  }
  return half1 == NO_NODE ? p : dag_smul(g, dag_smul(g, p, half1), half2);
}

/* The rules of the tensor operators, one per mode: the tangent of n given
 * the tangent t of its argument i (forward), or the adjoint of argument i
 * given the adjoint t of n (reverse). */
static NodeId struct_rule(Dag *g, NodeId n, int i, NodeId t, int reverse) {
  const Node nd = *dag_node(g, n);
  NodeId x = nd.arg[0];
  ShapeId xs = dag_shape(g, x), ns = nd.shape;
  switch ((OpKind)nd.op) {
  case OP_BCAST:
    return reverse ? shape_unbroadcast(g, t, xs) : dag_bcast(g, t, ns);
  case OP_RESHAPE:
    return dag_reshape(g, t, reverse ? xs : ns);
  case OP_TRANSPOSE:
    return dag_transpose(g, t);
  case OP_SLICE:
    return reverse ? dag_pad(g, t, &g->slices[nd.v.idx]) : dag_slice(g, t, &g->slices[nd.v.idx]);
  case OP_PAD: { /* a tangent is padded with +0 (a literal's -0 fill is for values) */
    SliceSpec sp = g->slices[nd.v.idx];
    sp.negzero = 0;
    return reverse ? dag_slice(g, t, &sp) : dag_pad(g, t, &sp);
  }
  case OP_SCATTER_ADD: /* acc + pad(piece): each argument's own rule */
    if (i == 0)
      return t;
    return reverse ? dag_slice(g, t, &g->slices[nd.v.idx]) : dag_pad(g, t, &g->slices[nd.v.idx]);
  case OP_SUM: {
    int axis = (int)nd.v.idx;
    if (!reverse)
      return dag_sum(g, t, axis);
    if (axis >= 0)
      t = dag_reshape(g, t, shape_keepdims(g, xs, axis));
    return dag_bcast(g, t, xs);
  }
  case OP_AMAX:
  case OP_PROD: {
    int axis = (int)nd.v.idx;
    NodeId p = reduce_partial(g, &nd, n);
    if (!reverse)
      return dag_sum(g, dag_smul(g, t, p), axis);
    return dag_smul(g, keep_bcast(g, t, xs, axis), p);
  }
  case OP_CUMSUM: /* the adjoint of a running sum runs the other way */
    return dag_cumsum(g, t, (int)(nd.v.idx >> 1), (int)(nd.v.idx & 1) ^ reverse);
  case OP_LINSCAN: { /* h_i = a_i h_prev_i + b_i, h_prev the previous h */
    int axis = (int)(nd.v.idx >> 1), rev = (int)(nd.v.idx & 1), by = rev ? -1 : 1;
    NodeId a = nd.arg[0], prev = shift(g, n, axis, by);
    if (!reverse) /* dh = a dh_prev + (da h_prev + db) */
      return dag_linscan(g, a, i == 0 ? dag_smul(g, t, prev) : t, axis, rev);
    /* the adjoint r of h_i collects t_i and a_(i+1) r_(i+1): a LINSCAN the
     * other way; then b gets r, and a gets r h_prev */
    NodeId r = dag_linscan(g, shift(g, a, axis, -by), t, axis, !rev);
    return i == 0 ? dag_smul(g, r, prev) : r;
  }
  case OP_TAKE:
    if (i == 1) /* the indices: derivative 0 */
      return NO_NODE;
    return reverse ? dag_scatter(g, t, nd.arg[1], (int)nd.v.idx, xs)
                   : dag_take(g, t, nd.arg[1], (int)nd.v.idx);
  case OP_SCATTER:
    if (i == 1)
      return NO_NODE;
    return reverse ? dag_take(g, t, nd.arg[1], (int)nd.v.idx)
                   : dag_scatter(g, t, nd.arg[1], (int)nd.v.idx, ns);
  case OP_MATMUL: {
    NodeId a = nd.arg[0], b = nd.arg[1];
    int f = (int)nd.v.idx, ta = f & 1, tb = (f >> 1) & 1;
    /* strong zeros where a factor may be non-finite, as dag_smul */
    if (dag_nonfinite(g, t) || dag_nonfinite(g, a) || dag_nonfinite(g, b))
      f |= MM_STRONG;
    int s = f & MM_STRONG;
    if (!reverse) /* d(op(A) op(B)) = op(dA) op(B) + op(A) op(dB) */
      return i == 0 ? dag_matmul(g, t, b, f) : dag_matmul(g, a, t, f);
    int ra = shape_rank(g, dag_shape(g, a)), rb = shape_rank(g, dag_shape(g, b));
    if (ra == 1 && rb == 1) /* a . b */
      return dag_smul(g, t, i == 0 ? b : a);
    if (ra == 1) { /* c(n) = a(k) op(B) */
      if (i == 0)
        return dag_matmul(g, b, t, (tb ? 1 : 0) | s);
      return tb ? dag_smul(g, as_matrix(g, t, 1), as_matrix(g, a, 0))
                : dag_smul(g, as_matrix(g, a, 1), as_matrix(g, t, 0));
    }
    if (rb == 1) { /* c(m) = op(A) b(k) */
      if (i == 1)
        return dag_matmul(g, a, t, (ta ? 0 : 1) | s);
      return ta ? dag_smul(g, as_matrix(g, b, 1), as_matrix(g, t, 0))
                : dag_smul(g, as_matrix(g, t, 1), as_matrix(g, b, 0));
    }
    /* dop(A) = dC op(B)', dop(B) = op(A)' dC */
    if (i == 0)
      return ta ? dag_matmul(g, b, t, (tb ? 1 : 0) | 2 | s) : dag_matmul(g, t, b, (tb ? 0 : 2) | s);
    return tb ? dag_matmul(g, t, a, 1 | (ta ? 2 : 0) | s) : dag_matmul(g, a, t, (ta ? 0 : 1) | s);
  }
  default:
    return NO_NODE;
  }
}

/* One chain-rule term, in either mode. */
static NodeId term(Dag *g, NodeId n, int i, NodeId t, int reverse) {
  if (op_info[g->nodes[n].op].cls == OC_STRUCT)
    return struct_rule(g, n, i, t, reverse);
  NodeId c = ad_contrib(g, n, i, t);
  /* an elementwise operand that was broadcast gets its adjoint summed back */
  if (reverse && c != NO_NODE)
    c = shape_unbroadcast(g, c, dag_shape(g, g->nodes[n].arg[i]));
  return c;
}

/* Mark the nodes that the roots depend on. */
static uint8_t *live_from(const Dag *g, uint32_t n, const NodeId *roots, int nroots) {
  uint8_t *live = calloc(n ? n : 1, 1);
  if (!live)
    return NULL;
  for (int r = 0; r < nroots; r++)
    if (roots[r] < n)
      live[roots[r]] = 1;
  for (uint32_t i = n; i-- > 0;)
    if (live[i])
      for (int k = 0; k < g->nodes[i].nargs; k++)
        live[g->nodes[i].arg[k]] = 1;
  return live;
}

/* acc + term. A zero-padded piece (the adjoint of an index or a slice)
 * is added in place at its positions (dag_scatter_add): O(1) per element read
 * instead of a zero-padded copy of the whole tensor per index. */
/* A zero term: a constant 0 or a tensor of them (a strong product's). */
static int zero_term(const Dag *g, NodeId n) {
  const Node *x = dag_node(g, n);
  if (x->op == OP_BCAST)
    x = dag_node(g, x->arg[0]);
  return x->op == OP_CONST && x->v.num == 0;
}

static NodeId accumulate(Dag *g, NodeId acc, NodeId term) {
  if (term == NO_NODE || (acc != NO_NODE && zero_term(g, term)))
    return acc;
  if (acc == NO_NODE || zero_term(g, acc))
    return acc != NO_NODE && dag_shape(g, term) != dag_shape(g, acc) ? dag_add(g, acc, term) : term;
  const Node *t = dag_node(g, term), *a = dag_node(g, acc);
  if (t->op == OP_PAD && t->shape == a->shape)
    return dag_scatter_add(g, acc, t->arg[0], &g->slices[t->v.idx]);
  if (a->op == OP_PAD && t->shape == a->shape)
    return dag_scatter_add(g, term, a->arg[0], &g->slices[a->v.idx]);
  return dag_add(g, acc, term);
}

/* The tangent of node i (not a variable) from its arguments' tangents
 * targ[k] (NO_NODE: zero); NO_NODE if it is zero. */
static NodeId forward_node(Dag *g, uint32_t i, const NodeId *targ) {
  const Node nd = g->nodes[i];
  if (nd.op == OP_MAXR) {
    if (targ[0] == NO_NODE)
      return NO_NODE;
    /* the shift of the stable forms (stable.c): nothing depends on it, so
     * reverse mode leaves it out, but its tangent (the mean tangent of
     * the maxima) keeps the shifted tangent t - t_max from overflowing
     * (log_softmax(cosh([x, x])) at 710) */
    NodeId x = nd.arg[0], t = targ[0];
    ShapeId xs = dag_shape(g, x);
    int axis = (int)nd.v.idx;
    NodeId mask = dag_bin(g, OP_EQ, x, keep_bcast(g, i, xs, axis));
    NodeId count = keep_bcast(g, dag_sum(g, mask, axis), xs, axis); /* divided first: */
    return dag_sum(g, dag_op(g, OP_WHERE, mask, dag_div(g, t, count), dag_const(g, 0)), axis);
  }
  if (!differentiable((OpKind)nd.op))
    return NO_NODE;
  NodeId acc = NO_NODE;
  for (int k = 0; k < nd.nargs; k++)
    if (targ[k] != NO_NODE)
      acc = accumulate(g, acc, term(g, i, k, targ[k], 0));
  if (acc != NO_NODE && dag_is_const(g, acc) && dag_num(g, acc) == 0)
    acc = NO_NODE;
  if (acc != NO_NODE && dag_shape(g, acc) != nd.shape) /* a broadcast operand */
    acc = dag_bcast(g, acc, nd.shape);
  return acc;
}

/* A variable's tangent from var_tangent (NO_NODE: zero) */
static NodeId var_tangent_of(const Dag *g, const Node *nd, const NodeId *var_tangent, int nvars) {
  if (nd->v.idx < (uint32_t)nvars && var_tangent[nd->v.idx] != NO_NODE &&
      !(dag_is_const(g, var_tangent[nd->v.idx]) && dag_num(g, var_tangent[nd->v.idx]) == 0))
    return var_tangent[nd->v.idx];
  return NO_NODE;
}

NodeId *ad_forward(Dag *g, const NodeId *var_tangent, int nvars,
                   const NodeId *roots, int nroots, uint32_t *n_out) {
  uint32_t n = g->count;
  NodeId *tan = malloc((n ? n : 1) * sizeof *tan);
  uint8_t *live = live_from(g, n, roots, nroots);
  if (!tan || !live) {
    free(tan);
    free(live);
    return NULL;
  }
  for (uint32_t i = 0; i < n; i++) {
    tan[i] = NO_NODE;
    if (!live[i])
      continue;
    const Node *nd = &g->nodes[i];
    if (nd->op == OP_VAR) {
      tan[i] = var_tangent_of(g, nd, var_tangent, nvars);
      continue;
    }
    NodeId targ[3] = {NO_NODE, NO_NODE, NO_NODE};
    for (int k = 0; k < nd->nargs; k++)
      targ[k] = tan[nd->arg[k]];
    tan[i] = forward_node(g, i, targ);
  }
  free(live);
  *n_out = n;
  return tan;
}

/* Nodes ahead in the reverse sweep whose operands are fetched into the
 * cache: a primal operand read far back is a cache miss otherwise. */
#define AD_PREFETCH 12

NodeId *ad_reverse(Dag *g, NodeId root, NodeId seed, uint32_t *n_out) {
  uint32_t n = g->count;
  NodeId *adj = malloc((n ? n : 1) * sizeof *adj);
  uint8_t *active = calloc(n ? n : 1, 1);
  if (!adj || !active) {
    free(adj);
    free(active);
    return NULL;
  }
  /* active: depends on some variable through differentiable operators */
  for (uint32_t i = 0; i < n; i++) {
    const Node *nd = &g->nodes[i];
    adj[i] = NO_NODE;
    if (nd->op == OP_VAR)
      active[i] = 1;
    else if (differentiable((OpKind)nd->op))
      for (int k = 0; k < nd->nargs; k++)
        active[i] |= active[nd->arg[k]];
  }
  if (root < n && active[root])
    adj[root] = seed == NO_NODE ? dag_bcast(g, dag_const(g, 1), g->nodes[root].shape) : seed;
  for (uint32_t i = n; i-- > 0;) {
    if (i >= AD_PREFETCH) {
      const Node *ahead = &g->nodes[i - AD_PREFETCH];
      for (int k = 0; k < ahead->nargs; k++) {
        __builtin_prefetch(&g->nodes[ahead->arg[k]]);
        __builtin_prefetch(&adj[ahead->arg[k]]);
      }
    }
    if (adj[i] == NO_NODE)
      continue;
    const Node nd = g->nodes[i];
    if (nd.op == OP_VAR || !differentiable((OpKind)nd.op))
      continue;
    for (int k = 0; k < nd.nargs; k++) {
      NodeId a = nd.arg[k];
      if (!active[a])
        continue;
      adj[a] = accumulate(g, adj[a], term(g, i, k, adj[i], 1));
    }
  }
  free(active);
  *n_out = n;
  return adj;
}

/* For vector mode (vector.c): the single-direction rules, reused per
 * direction where a tensor rule has no batched form. */
int ad_differentiable(OpKind op) { return differentiable(op); }
NodeId ad_term(Dag *g, NodeId n, int i, NodeId t, int reverse) { return term(g, n, i, t, reverse); }
NodeId ad_accumulate(Dag *g, NodeId acc, NodeId t) { return accumulate(g, acc, t); }
NodeId ad_forward_node(Dag *g, uint32_t n, const NodeId *targ) { return forward_node(g, n, targ); }
uint8_t *ad_live(const Dag *g, uint32_t n, const NodeId *roots, int nroots) {
  return live_from(g, n, roots, nroots);
}
NodeId ad_reduce_partial(Dag *g, NodeId n) {
  const Node nd = *dag_node(g, n);
  return reduce_partial(g, &nd, n);
}
