/* fuzz_edges: a differential fuzzer of derivatives at the edges (issue 13,
 * SPEC 1.5 and 1.6).
 *
 * A case is a random program over every built-in of SPEC 1.5 and the
 * language of 1.7 and 1.8 (1-3 scalar params x, y, z and maybe a vector
 * param v[2], v[3], v[4] or v[N], N bound by the point; a scalar or vector
 * output): indexing from either end, slices with negative and strided
 * steps (of v[N] only the forms gradc sizes from N or checks at call
 * time), concat, stack and reshape (a vector twice or half as long), prod,
 * max/min/norm reductions, cumsum, clip, log_sigmoid and calls of up to
 * two user functions (elementwise bodies over their parameters and the
 * params), evaluated at edge points: 0, -0, +-1, +-inf, huge (1e300, 1e16,
 * 1e10, 800) and tiny (1e-300, 5e-324) values, ties (y == x, equal vector
 * entries), and a few ordinary numbers. At each point it computes the
 * value, the Jacobian in reverse mode (gradient, or one VJP per output
 * element) and in forward mode (one JVP per input element), and the Hessian
 * of a scalar output, with libtcc; one case in --cc-every (20) also with the
 * system cc. A finding is one of these kinds:
 *   modes     (a) reverse and forward mode disagree: not within 1e-12
 *                 relative (absolute floor 1e-14) and not the same
 *                 non-finite value (NaN and NaN, inf and inf of one sign);
 *                 compared where the output's value is finite (where it
 *                 is inf or NaN it has no derivative, and the modes may
 *                 reach different non-finite values: the cancellation of
 *                 an infinite adjoint inside softmax gives inf - inf)
 *   backends  (b) a derivative differs between tcc and cc, likewise
 *   hessian   (c) the Hessian is not symmetric, likewise but within 1e-10
 *                 relative (where the value is finite)
 *   (a), (c) and (d) skip points with an infinite input (strong zeros
 *                 assume finite variables: a term seed*x with seed 0 and
 *                 x = inf is NaN; README), points where pow has a negative
 *                 base and a varying exponent (defined at integer exponents
 *                 only; d/dy is log(x) = NaN, and whether that NaN cancels
 *                 depends on the order of the chain rule), and points
 *                 where a sum, product, integer power or division of
 *                 finite operands overflows, or a product underflows to 0,
 *                 or a partial y/x^2, y x^(y-1) or atan2's does (gradc
 *                 multiplies plainly by polynomial values: strong zeros
 *                 guard exp, log, sqrt, pow, division...; see README); and
 *                 where a partial is infinite or undefined at the point
 *                 (sqrt at 0, asin at 1, pow(0, 0.5), pow(1, inf), atan2
 *                 at the origin) (a) and (c) do not compare a non-finite
 *                 value and (d) does not judge: the order of the chain rule
 *                 decides (README); finite values that differ by rounding
 *                 only (64 eps M max(1, 1/|x|), M the largest value in the
 *                 program; anything at an input of 1e10 or more, or with
 *                 asin/acos within 1e-8 of +-1) are not findings; and
 *                 points with a tiny input
 *                 (0 < |x| < 1e-150: partials near 1/x reach 1e300, and two
 *                 paths of +-5e299 that cancel lose a third term of 1 in
 *                 one summation order and not in the other) or a huge one
 *                 (|x| > 1e150: the squares inside derivative rules, erf's
 *                 exp(-x^2) or atan's 1/(1 + x^2), overflow: the same
 *                 polynomial overflow, in derivative code)
 *   nan       (d) a derivative is NaN or infinite where the function is
 *                 finite and differentiable around the point: every input
 *                 finite, the function finite at the point and at x +- h for
 *                 three step sizes h (1e-4, 1e-6, 1e-8 times |x|, or
 *                 absolute at x = 0; skipped when an input is tiny,
 *                 0 < |x| < 1e-150), the six one-sided difference
 *                 quotients finite, the gap between the two sides shrinking
 *                 at least linearly with h and the central quotients
 *                 agreeing (which rules out kinks, jumps of comparisons,
 *                 where and sign, cusps, points where a branch is
 *                 undefined on one side, and overflow nearby); nor where
 *                 the value is finite only because C's pow(NaN, 0) = 1,
 *                 atan2(inf, inf) = pi/4 or max/min/relu/sign hide a NaN,
 *                 nor where f moves by a few ulps only (1e16 - atan2(x,
 *                 x): rounding hides the jump)
 *   bvalue    (e) the value differs between tcc and cc, likewise
 *   value     (f) the value is not IEEE-faithful: its class (NaN, +inf,
 *                 -inf, finite) differs from the program evaluated naively
 *                 in C by this file's own interpreter (SPEC 1.6: the
 *                 simplifier never turns NaN or inf into a number or back).
 *                 Skipped for programs holding a stable-form pattern of 1.6
 *                 (log of a sum/sigmoid/exp/softmax, exp(x) +- 1 ...) and at
 *                 points where the reference is unspecified (NaN into max,
 *                 relu, sign; a non-finite entry of softmax).
 *   error         gradc rejected the program or a call failed
 *
 * Usage (the standalone program, built by CMake as build/tests/fuzz/fuzz_edges):
 *   fuzz_edges --seconds 300 --seed 7      random cases for 5 minutes
 *   fuzz_edges --quick                     3 seconds, seed 1, no files (ctest fuzz_edges_quick)
 *   fuzz_edges --replay FILE...              (ctest replay_edges: regress-edges/)
 *   options: --cc-every N (0: never), --points K, --findings DIR,
 *            --no-save, --no-shrink, --stop (at the first finding), -v
 * Each finding is shrunk (subtrees replaced by their children or leaves
 * while the same kind stays), printed, and saved once per distinct shrunk
 * program as DIR/KIND-HASH.expr (default tests/fuzz/findings/): the program
 * with its point and expected properties in "#!" lines, so it can be
 * replayed and moved to tests/fuzz/regress-edges/. Exit status: 0 no
 * finding, 1 findings, 2 usage error.
 *
 * The same file is a libFuzzer harness (tests/fuzz/build.sh builds
 * build-fuzz/fuzz_edges without FUZZ_EDGES_MAIN): the bytes choose the
 * program and the points; a finding is saved as above and aborts, so
 * libFuzzer keeps the input as a crash.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gradc.h"

/* ---- finding kinds --------------------------------------------------------------- */

enum { K_MODES = 1, K_BACKENDS = 2, K_HESSIAN = 4, K_NAN = 8, K_BVALUE = 16, K_VALUE = 32, K_ERROR = 64 };
#define NKINDS 7
static const char *kind_name[NKINDS] = {"modes", "backends", "hessian", "nan", "bvalue", "value", "error"};

/* ---- the expression tree ---------------------------------------------------------- */

enum Op {
  O_PARAM, O_VPARAM, O_CONST, O_INDEX, /* leaves, v, constants, (V)[i] */
  O_NEG, O_EXP, O_LOG, O_SQRT, O_ABS, O_SIGN, O_SIN, O_COS, O_TAN, O_ASIN, O_ACOS, O_ATAN,
  O_SINH, O_COSH, O_TANH, O_ERF, O_SIGMOID, O_RELU, O_SOFTPLUS, O_LOG1P, O_EXPM1, O_LOGSIG,
  O_ADD, O_SUB, O_MUL, O_DIV, O_POWOP, O_POW, O_ATAN2, O_MAX, O_MIN,
  O_LT, O_LE, O_GT, O_GE, O_EQ, O_NE,
  O_WHERE, O_SUM, O_MEAN, O_LSE, O_SOFTMAX, O_LOGSOFTMAX, O_LIST,
  /* SPEC 1.7 and 1.8: a[lo:hi:st]; concat([a, b, ...]); reshape(stack([a, b],
   * axis=K), [-1]); a vector of half the length through a reshape to two
   * columns or rows; the reductions prod, max, min, norm; cumsum; clip;
   * a call of a user function, and its parameters inside its body */
  O_SLICE, O_CONCAT, O_STACKF, O_HALVE, O_PROD, O_MAXR, O_MINR, O_NORM, O_CUMSUM, O_CLIP, O_CALL, O_FARG,
  O_COUNT
};
#define FIRST_UNARY O_NEG
#define LAST_UNARY O_LOGSIG
#define NUNARY (LAST_UNARY - FIRST_UNARY + 1)

static const char *op_name[O_COUNT] = {
    [O_NEG] = "-", [O_EXP] = "exp", [O_LOG] = "log", [O_SQRT] = "sqrt", [O_ABS] = "abs",
    [O_SIGN] = "sign", [O_SIN] = "sin", [O_COS] = "cos", [O_TAN] = "tan", [O_ASIN] = "asin",
    [O_ACOS] = "acos", [O_ATAN] = "atan", [O_SINH] = "sinh", [O_COSH] = "cosh", [O_TANH] = "tanh",
    [O_ERF] = "erf", [O_SIGMOID] = "sigmoid", [O_RELU] = "relu", [O_SOFTPLUS] = "softplus",
    [O_LOG1P] = "log1p", [O_EXPM1] = "expm1", [O_LOGSIG] = "log_sigmoid", [O_ADD] = "+", [O_SUB] = "-",
    [O_MUL] = "*", [O_DIV] = "/", [O_POWOP] = "^", [O_POW] = "pow", [O_ATAN2] = "atan2", [O_MAX] = "max",
    [O_MIN] = "min", [O_LT] = "<", [O_LE] = "<=", [O_GT] = ">", [O_GE] = ">=", [O_EQ] = "==",
    [O_NE] = "!=", [O_WHERE] = "where", [O_SUM] = "sum", [O_MEAN] = "mean",
    [O_LSE] = "logsumexp", [O_SOFTMAX] = "softmax", [O_LOGSOFTMAX] = "log_softmax", [O_PROD] = "prod",
    [O_MAXR] = "max", [O_MINR] = "min", [O_NORM] = "norm", [O_CUMSUM] = "cumsum", [O_CLIP] = "clip"};

#define MAXNODES 256
#define MAXVLEN 4     /* the length of v at most */
#define MAXV 6        /* vector length at most */
#define MAXIN (3 + MAXVLEN) /* flattened inputs: x, y, z, v */
#define MAXPOINTS 16
#define MAXFN 2       /* user functions, of 1 or 2 parameters */

typedef struct Node {
  int op, len;     /* len 0: scalar, else a vector of that length */
  int sym;         /* a vector whose length gradc knows only at call time
                      (v[N], slices and concats of it): combined only with
                      others of that kind (N and 3 do not broadcast) */
  int kid[MAXV], nk; /* (a literal has len kids) */
  int idx;         /* O_PARAM: 0..2; O_INDEX: the index (negative: from the
                      end); O_CALL: the function; O_FARG: the parameter;
                      O_STACKF: the axis; O_HALVE: the variant */
  int has_lo, has_hi, lo, hi, st; /* O_SLICE; st 0: none written */
  double c;        /* O_CONST */
} Node;

typedef struct Case {
  Node n[MAXNODES];
  int nn, root;
  int np, vlen;    /* scalar params, length of v (0: none) */
  int vsym;        /* v is declared v[N] */
  int nfn, fn_root[MAXFN], fn_nargs[MAXFN]; /* bodies: elementwise, scalar-generic */
  int fn_used[MAXFN]; /* the parameters a body reads (bits): a call is shaped like
                         those arguments only (u(p0) = x is a scalar whatever p0 is) */
  int npoints;
  double pt[MAXPOINTS][MAXIN];
} Case;

static int n_inputs(const Case *c) { return c->np + c->vlen; }
static int out_len(const Case *c) { return c->n[c->root].len; }

/* ---- bytes -> case ---------------------------------------------------------------- */

typedef struct Bytes {
  const uint8_t *p;
  size_t n, i;
} Bytes;

static unsigned next(Bytes *b) { return b->i < b->n ? b->p[b->i++] : 0; }

static const double edge_vals[] = {
    0.0,   -0.0,  1.0,  -1.0,  INFINITY, -INFINITY, 1e300, -1e300, 1e16,   -1e16, 1e10,  800.0, -800.0,
    1e-300, -1e-300, 5e-324, 0.5, -0.5,  2.0,   3.0,   0.3,   -1.7,  710.0, 40.0, -40.0, 1e-8};
#define NEDGE ((int)(sizeof edge_vals / sizeof edge_vals[0]))
static const double const_vals[] = {0, 1, 2, 3, 0.5, -1, -2, 10, 1e300, 1e-300, 800, 1e16, 5e-324, -0.5};
#define NCONST ((int)(sizeof const_vals / sizeof const_vals[0]))
static const double expo_vals[] = {2, 3, 0.5, -1, 0, 1, -2, 1.5, 4, -0.5};
#define NEXPO ((int)(sizeof expo_vals / sizeof expo_vals[0]))

static int new_node(Case *c, int op, int len) {
  if (c->nn >= MAXNODES)
    return -1;
  Node *n = &c->n[c->nn];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->len = len;
  return c->nn++;
}

static int gen(Case *c, Bytes *b, int depth, int len, int sym);

static int node2(Case *c, int op, int len, int a, int b) {
  if (a < 0 || b < 0)
    return -1;
  int k = new_node(c, op, len);
  if (k >= 0) {
    c->n[k].kid[0] = a;
    c->n[k].kid[1] = b;
    c->n[k].nk = 2;
    c->n[k].sym = len && (c->n[a].sym || c->n[b].sym);
  }
  return k;
}

static int node1(Case *c, int op, int len, int a) {
  if (a < 0)
    return -1;
  int k = new_node(c, op, len);
  if (k >= 0) {
    c->n[k].kid[0] = a;
    c->n[k].nk = 1;
    c->n[k].sym = len && c->n[a].sym;
  }
  return k;
}

static int node3(Case *c, int op, int len, int a, int b, int d) {
  int k = node2(c, op, len, a, b);
  if (k < 0 || d < 0)
    return -1;
  c->n[k].kid[2] = d;
  c->n[k].nk = 3;
  c->n[k].sym |= len && c->n[d].sym;
  return k;
}

/* The rules of a[lo:hi:st] (Python's slice.indices): the first index and
 * the count for a dimension of length L. */
static int py_slice(int L, const Node *s, int *first) {
  int st = s->st ? s->st : 1, a, e;
  if (st > 0) {
    a = !s->has_lo ? 0 : s->lo < 0 ? (s->lo + L < 0 ? 0 : s->lo + L) : (s->lo > L ? L : s->lo);
    e = !s->has_hi ? L : s->hi < 0 ? (s->hi + L < 0 ? 0 : s->hi + L) : (s->hi > L ? L : s->hi);
  } else {
    a = !s->has_lo ? L - 1 : s->lo < 0 ? (s->lo + L < 0 ? -1 : s->lo + L) : (s->lo > L - 1 ? L - 1 : s->lo);
    e = !s->has_hi ? -1 : s->hi < 0 ? (s->hi + L < 0 ? -1 : s->hi + L) : (s->hi > L - 1 ? L - 1 : s->hi);
  }
  int gap = st > 0 ? e - a : a - e, m = st > 0 ? st : -st;
  *first = a;
  return gap > 0 ? (gap + m - 1) / m : 0;
}

/* How gradc reads a[lo:hi:st] of a dimension known only at call time
 * (lower.c slice_dim): -1 refused, 0 a literal length (then every index
 * must exist at length L), 1 a length derived from N. */
static int sym_slice_kind(int L, const Node *s) {
  int st = s->st ? s->st : 1, m = st > 0 ? st : -st;
  int lo = s->lo, hi = s->hi, lo_fs, hi_fs;
  if (st > 0) {
    if (!s->has_lo)
      lo = 0;
    lo_fs = lo >= 0;
    if (!s->has_hi)
      hi = 0, hi_fs = 0;
    else
      hi_fs = hi >= 0;
  } else {
    if (!s->has_lo)
      lo = -1;
    lo_fs = lo >= 0;
    if (!s->has_hi)
      hi = -1, hi_fs = 1;
    else
      hi_fs = hi >= 0;
  }
  if (lo_fs == hi_fs) {
    int gap = st > 0 ? hi - lo : lo - hi;
    if (gap <= 0)
      return -1;
    int count = (gap + m - 1) / m, last = lo + (count - 1) * st;
    int top = lo > last ? lo : last, low = lo < last ? lo : last;
    if (lo_fs ? top >= L : -low > L) /* an index out of range at call time */
      return -1;
    return 0;
  }
  return (st > 0 && lo_fs) || (st < 0 && !lo_fs) ? 1 : -1;
}

/* A vector that gradc sizes from N: v itself, v[k:] or v[:-k] (shorter),
 * concat([v, ...]) (longer). */
static int sym_leaf(Case *c, Bytes *b, int len) {
  int v = new_node(c, O_VPARAM, c->vlen);
  if (v < 0)
    return -1;
  c->n[v].sym = 1;
  if (len == c->vlen)
    return v;
  if (len < c->vlen) {
    int k = node1(c, O_SLICE, len, v);
    if (k < 0)
      return -1;
    if (next(b) % 2)
      c->n[k].has_lo = 1, c->n[k].lo = c->vlen - len;
    else
      c->n[k].has_hi = 1, c->n[k].hi = len - c->vlen;
    return k;
  }
  int l = new_node(c, O_LIST, len - c->vlen);
  if (l < 0)
    return -1;
  for (int i = 0; i < len - c->vlen; i++) {
    int e = new_node(c, O_CONST, 0);
    if (e < 0)
      return -1;
    c->n[e].c = const_vals[next(b) % NCONST];
    c->n[l].kid[c->n[l].nk++] = e;
  }
  return next(b) % 2 ? node2(c, O_CONCAT, len, v, l) : node2(c, O_CONCAT, len, l, v);
}

static int leaf(Case *c, Bytes *b, int len, int sym) {
  unsigned r = next(b);
  if (len) {
    if (sym)
      return sym_leaf(c, b, len);
    if (c->vlen == len && !c->vsym && r % 3)
      return new_node(c, O_VPARAM, len);
    int l = new_node(c, O_LIST, len);
    if (l < 0)
      return -1;
    for (int i = 0; i < len; i++) {
      int k = leaf(c, b, 0, 0);
      if (k < 0)
        return -1;
      c->n[l].kid[c->n[l].nk++] = k;
    }
    return l;
  }
  if (r % 5 == 0) {
    int k = new_node(c, O_CONST, 0);
    if (k >= 0)
      c->n[k].c = const_vals[next(b) % NCONST];
    return k;
  }
  if (c->vlen && r % 5 == 1) { /* v[i], v[-i]: checked at call time for v[N] */
    int k = new_node(c, O_INDEX, 0);
    int v = new_node(c, O_VPARAM, c->vlen);
    if (k < 0 || v < 0)
      return -1;
    c->n[v].sym = c->vsym;
    c->n[k].kid[0] = v;
    c->n[k].nk = 1;
    c->n[k].idx = (int)(next(b) % (unsigned)c->vlen) - (next(b) % 2 ? c->vlen : 0);
    return k;
  }
  int k = new_node(c, O_PARAM, 0);
  if (k >= 0)
    c->n[k].idx = (int)(next(b) % (unsigned)c->np);
  return k;
}

static int copy_tree(Case *c, int t) {
  int k = new_node(c, 0, 0);
  if (k < 0)
    return -1;
  c->n[k] = c->n[t];
  for (int i = 0; i < c->n[t].nk; i++)
    if ((c->n[k].kid[i] = copy_tree(c, c->n[t].kid[i])) < 0)
      return -1;
  return k;
}

/* Two operands whose lengths broadcast to len (vector and scalar mixed). */
static void operands(Case *c, Bytes *b, int depth, int len, int sym, int *x, int *y) {
  unsigned r = len ? next(b) % 4 : 0;
  *x = gen(c, b, depth - 1, r == 1 ? 0 : len, sym);
  if (*x >= 0 && c->n[*x].len == len && next(b) % 8 == 0)
    *y = copy_tree(c, *x); /* ties: max(a, a), a - a, a / a */
  else
    *y = gen(c, b, depth - 1, r == 2 ? 0 : len, sym);
}

/* A vector of some length for a reduction or an index: symbolic or not. */
static int any_vector(Case *c, Bytes *b, int depth, int *len) {
  *len = 1 + (int)(next(b) % 5);
  if (next(b) % 2 && c->vlen)
    *len = c->vlen;
  return gen(c, b, depth - 1, *len, c->vsym && next(b) % 3 != 0);
}

/* a[lo:hi:st] of length len: a few forms tried on inputs of length L >= len. */
static int gen_slice(Case *c, Bytes *b, int depth, int len, int sym) {
  static const int los[] = {0, 1, 2, -1, -2, -3, 3}, his[] = {1, 2, 3, -1, -2, 4, 5}, sts[] = {1, 2, 3, -1, -2, 1};
  for (int tries = 0; tries < 24; tries++) {
    int L = len + (int)(next(b) % (unsigned)(MAXV - len + 1));
    int isym = sym || (c->vsym && next(b) % 2);
    Node s = {0};
    s.has_lo = next(b) % 3 != 0;
    s.lo = los[next(b) % 7];
    s.has_hi = next(b) % 3 != 0;
    s.hi = his[next(b) % 7];
    s.st = next(b) % 3 ? 0 : sts[next(b) % 6];
    int first, count = py_slice(L, &s, &first);
    if (count != len)
      continue;
    if (isym) {
      int kind = sym_slice_kind(L, &s);
      if (kind < 0 || kind != sym)
        continue;
    } else if (sym) {
      continue;
    }
    int in = gen(c, b, depth - 1, L, isym);
    int k = node1(c, O_SLICE, len, in);
    if (k < 0)
      return -1;
    Node *n = &c->n[k];
    n->has_lo = s.has_lo, n->lo = s.lo, n->has_hi = s.has_hi, n->hi = s.hi, n->st = s.st;
    n->sym = sym;
    return k;
  }
  return leaf(c, b, len, sym);
}

/* concat of 2 or 3 pieces; at least one symbolic where sym is asked. */
static int gen_concat(Case *c, Bytes *b, int depth, int len, int sym) {
  int np = len >= 3 && next(b) % 2 ? 3 : 2;
  if (len < np)
    return gen_slice(c, b, depth, len, sym);
  int cut[3], rest = len;
  for (int i = 0; i < np; i++) {
    cut[i] = i == np - 1 ? rest : 1 + (int)(next(b) % (unsigned)(rest - (np - 1 - i)));
    rest -= cut[i];
  }
  int which = (int)(next(b) % (unsigned)np), kids[3];
  for (int i = 0; i < np; i++) {
    int ps = sym && (i == which || next(b) % 2);
    kids[i] = gen(c, b, depth - 1, cut[i], ps);
    if (kids[i] < 0)
      return -1;
  }
  return np == 3 ? node3(c, O_CONCAT, len, kids[0], kids[1], kids[2]) : node2(c, O_CONCAT, len, kids[0], kids[1]);
}

/* The body of a user function: elementwise over its parameters (O_FARG),
 * the scalar params and constants; every node scalar-generic (len 0). */
static int gen_body(Case *c, Bytes *b, int depth, int nargs) {
  unsigned r = next(b);
  if (depth <= 0 || r % 5 == 0 || c->nn > MAXNODES - 60) {
    if (r % 7 == 1) {
      int k = new_node(c, O_CONST, 0);
      if (k >= 0)
        c->n[k].c = const_vals[next(b) % NCONST];
      return k;
    }
    if (r % 7 == 2) {
      int k = new_node(c, O_PARAM, 0);
      if (k >= 0)
        c->n[k].idx = (int)(next(b) % (unsigned)c->np);
      return k;
    }
    int k = new_node(c, O_FARG, 0);
    if (k >= 0)
      c->n[k].idx = (int)(next(b) % (unsigned)nargs);
    return k;
  }
  switch (next(b) % 6) {
  case 0: case 1:
    return node1(c, FIRST_UNARY + (int)(next(b) % NUNARY), 0, gen_body(c, b, depth - 1, nargs));
  case 2: case 3:
    return node2(c, O_ADD + (int)(next(b) % 9), 0, gen_body(c, b, depth - 1, nargs), gen_body(c, b, depth - 1, nargs));
  case 4: {
    int cond = node2(c, O_LT + (int)(next(b) % 6), 0, gen_body(c, b, depth - 1, nargs), gen_body(c, b, depth - 1, nargs));
    return node3(c, O_WHERE, 0, cond, gen_body(c, b, depth - 1, nargs), gen_body(c, b, depth - 1, nargs));
  }
  default:
    return node3(c, O_CLIP, 0, gen_body(c, b, depth - 1, nargs), leaf(c, b, 0, 0), leaf(c, b, 0, 0));
  }
}

static int gen(Case *c, Bytes *b, int depth, int len, int sym) {
  if (!len)
    sym = 0;
  if (depth <= 0 || next(b) % 6 == 0 || c->nn > MAXNODES - 40)
    return leaf(c, b, len, sym);
  unsigned r = next(b) % 19;
  int x, y;
  if (len && (r == 7 || r == 9)) /* comparisons and indexing give scalars: a literal */
    r = sym ? 13 : 12;
  if (r == 18 && !c->nfn)
    r = 0;
  switch (r) {
  case 0: case 1: case 2:
    return node1(c, FIRST_UNARY + (int)(next(b) % NUNARY), len, gen(c, b, depth - 1, len, sym));
  case 3: case 4: case 10: {
    int op = O_ADD + (int)(next(b) % 5);
    if (op == O_POWOP && next(b) % 5 < 3) {
      x = gen(c, b, depth - 1, len, sym);
      y = new_node(c, O_CONST, 0);
      if (y >= 0)
        c->n[y].c = expo_vals[next(b) % NEXPO];
    } else {
      operands(c, b, depth, len, sym, &x, &y);
    }
    return node2(c, op, len, x, y);
  }
  case 5: case 11:
    operands(c, b, depth, len, sym, &x, &y);
    return node2(c, O_POW + (int)(next(b) % 4), len, x, y);
  case 6: { /* where(a CMP b, p, q) */
    int cmp = O_LT + (int)(next(b) % 6);
    operands(c, b, depth, len, sym, &x, &y);
    int cond = node2(c, cmp, len ? (c->n[x >= 0 ? x : 0].len | c->n[y >= 0 ? y : 0].len) : 0, x, y);
    int p, q;
    operands(c, b, depth, len, sym, &p, &q);
    if (cond < 0 || p < 0 || q < 0)
      return -1;
    int k = node3(c, O_WHERE, len, cond, p, q);
    if (k >= 0)
      c->n[k].sym = len && sym;
    return k;
  }
  case 7:
    operands(c, b, depth, len, sym, &x, &y);
    return node2(c, O_LT + (int)(next(b) % 6), len, x, y);
  case 8:
    if (len)
      return node1(c, next(b) % 2 ? O_SOFTMAX : O_LOGSOFTMAX, len, gen(c, b, depth - 1, len, sym));
    else {
      int vl, v = any_vector(c, b, depth, &vl);
      return node1(c, O_SUM + (int)(next(b) % 3), 0, v);
    }
  case 9: {
    int vl, v = any_vector(c, b, depth, &vl);
    unsigned w = next(b) % 3;
    if (v >= 0 && w)
      v = node1(c, w == 1 ? O_SOFTMAX : O_LOGSOFTMAX, vl, v);
    int k = node1(c, O_INDEX, 0, v);
    if (k >= 0)
      c->n[k].idx = (int)(next(b) % (unsigned)vl) - (next(b) % 2 ? vl : 0);
    return k;
  }
  case 13: /* a slice; of a scalar: an index of one */
    if (len)
      return gen_slice(c, b, depth, len, sym);
    else {
      int vl = 1 + (int)(next(b) % 3);
      int v = gen_slice(c, b, depth, vl, c->vsym && next(b) % 2);
      int k = node1(c, O_INDEX, 0, v);
      if (k >= 0)
        c->n[k].idx = (int)(next(b) % (unsigned)vl) - (next(b) % 2 ? vl : 0);
      return k;
    }
  case 14: /* concat; of a scalar: a reduction of one */
    if (len)
      return gen_concat(c, b, depth, len, sym);
    else {
      int vl = 2 + (int)(next(b) % 4);
      return node1(c, O_SUM + (int)(next(b) % 3), 0, gen_concat(c, b, depth, vl, c->vsym && next(b) % 2));
    }
  case 15: /* stack and reshape: twice as long, or half as long */
    if (!len)
      return leaf(c, b, 0, 0);
    if (len % 2 == 0 && next(b) % 2) {
      operands(c, b, depth, len / 2, sym, &x, &y);
      if (x >= 0 && c->n[x].len == 0) /* stack needs two vectors of one shape */
        x = leaf(c, b, len / 2, sym);
      if (y >= 0 && c->n[y].len == 0)
        y = leaf(c, b, len / 2, sym);
      int k = node2(c, O_STACKF, len, x, y);
      if (k >= 0)
        c->n[k].idx = (int)(next(b) % 2), c->n[k].sym = sym;
      return k;
    }
    if (2 * len <= MAXV) {
      int k = node1(c, O_HALVE, len, gen(c, b, depth - 1, 2 * len, sym));
      if (k >= 0)
        c->n[k].idx = (int)(next(b) % 4), c->n[k].sym = sym;
      return k;
    }
    return gen_slice(c, b, depth, len, sym);
  case 16: /* cumsum; of a scalar: prod, max, min, norm */
    if (len)
      return node1(c, O_CUMSUM, len, gen(c, b, depth - 1, len, sym));
    else {
      int vl, v = any_vector(c, b, depth, &vl);
      return node1(c, O_PROD + (int)(next(b) % 4), 0, v);
    }
  case 17: { /* clip(a, lo, hi) */
    int lo = next(b) % 3 ? leaf(c, b, 0, 0) : gen(c, b, depth - 1, 0, 0);
    int hi = next(b) % 3 ? leaf(c, b, 0, 0) : gen(c, b, depth - 1, 0, 0);
    int k = node3(c, O_CLIP, len, gen(c, b, depth - 1, len, sym), lo, hi);
    if (k >= 0)
      c->n[k].sym = len && sym;
    return k;
  }
  case 18: { /* a user function: the arguments it reads broadcast to len */
    int f = (int)(next(b) % (unsigned)c->nfn), k, used = c->fn_used[f];
    if (len && !used)
      return leaf(c, b, len, sym);
    int first = used & 1 ? 0 : 1, arg[2];
    for (int i = 0; i < c->fn_nargs[f]; i++) {
      int vec = len && (used >> i & 1) && (i == first || next(b) % 2);
      arg[i] = gen(c, b, depth - 1, vec ? len : 0, sym);
    }
    k = c->fn_nargs[f] == 1 ? node1(c, O_CALL, len, arg[0]) : node2(c, O_CALL, len, arg[0], arg[1]);
    if (k >= 0)
      c->n[k].idx = f, c->n[k].sym = len && sym;
    return k;
  }
  case 12:
  default: {
    if (sym)
      return leaf(c, b, len, sym);
    int k = new_node(c, O_LIST, len ? len : 1);
    if (k < 0)
      return -1;
    int n = len ? len : 1;
    for (int i = 0; i < n; i++) {
      int e = gen(c, b, depth - 1, 0, 0);
      if (e < 0)
        return -1;
      c->n[k].kid[c->n[k].nk++] = e;
    }
    if (!len) /* [a][0] */
      return node1(c, O_INDEX, 0, k);
    return k;
  }
  }
}

static double edge(Bytes *b) { return edge_vals[next(b) % NEDGE]; }

/* The parameters a function body reads, as bits. */
static int used_args(const Case *c, int t) {
  int m = c->n[t].op == O_FARG ? 1 << c->n[t].idx : 0;
  for (int i = 0; i < c->n[t].nk; i++)
    m |= used_args(c, c->n[t].kid[i]);
  return m;
}

/* The case from bytes; 0 if the bytes make none. */
static int make_case(Case *c, const uint8_t *data, size_t size, int npoints) {
  Bytes b = {data, size, 0};
  memset(c, 0, sizeof *c);
  c->np = 1 + (int)(next(&b) % 3);
  unsigned r = next(&b);
  c->vlen = r % 3 == 0 ? 2 + (int)(r / 3 % 3) : 0;
  c->vsym = c->vlen && next(&b) % 2;
  c->nfn = (int)(next(&b) % 4);
  if (c->nfn > MAXFN)
    c->nfn = 0;
  for (int f = 0; f < c->nfn; f++) {
    c->fn_nargs[f] = 1 + (int)(next(&b) % 2);
    c->fn_root[f] = gen_body(c, &b, 1 + (int)(next(&b) % 3), c->fn_nargs[f]);
    if (c->fn_root[f] < 0)
      return 0;
    c->fn_used[f] = used_args(c, c->fn_root[f]);
  }
  int olen = next(&b) % 4 == 0 ? (c->vlen ? c->vlen : 2) : 0;
  c->root = gen(c, &b, 2 + (int)(next(&b) % 3), olen, c->vsym && olen == c->vlen && next(&b) % 2);
  if (c->root < 0)
    return 0;
  c->npoints = npoints > MAXPOINTS ? MAXPOINTS : npoints;
  for (int p = 0; p < c->npoints; p++) {
    int ni = n_inputs(c);
    for (int j = 0; j < ni; j++) {
      unsigned t = next(&b);
      if (j > 0 && t % 5 == 0) /* a tie with the input before, or its negation */
        c->pt[p][j] = t % 10 == 0 ? -c->pt[p][j - 1] : c->pt[p][j - 1];
      else
        c->pt[p][j] = edge(&b);
    }
  }
  return 1;
}

/* ---- the program text ------------------------------------------------------------- */

typedef struct Buf {
  char *s;
  size_t n, cap;
} Buf;

static void bprintf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(Buf *b, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0)
      return;
    if (b->s && b->n + (size_t)k < b->cap) {
      b->n += (size_t)k;
      return;
    }
    size_t cap = (b->cap + (size_t)k + 64) * 2;
    char *s = realloc(b->s, cap);
    if (!s)
      abort();
    b->s = s;
    b->cap = cap;
  }
}

static const char *pname[3] = {"x", "y", "z"};

/* The shortest text that reads back as v. */
static void shortest(char *s, size_t n, double v) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(s, n, "%.*g", prec, v);
    if (strtod(s, NULL) == v)
      return;
  }
}

static void num(Buf *b, double v) {
  char s[40];
  shortest(s, sizeof s, fabs(v));
  if (v < 0 || (v == 0 && signbit(v)))
    bprintf(b, "(-%s)", s);
  else
    bprintf(b, "%s", s);
}

/* The operand of an index or a slice: v as v, anything else in parentheses. */
static void print_expr(const Case *c, int t, Buf *b);
static void print_indexed(const Case *c, int t, Buf *b) {
  if (c->n[t].op == O_VPARAM) {
    bprintf(b, "v");
  } else {
    bprintf(b, "(");
    print_expr(c, t, b);
    bprintf(b, ")");
  }
}

static void print_expr(const Case *c, int t, Buf *b) {
  const Node *n = &c->n[t];
  switch (n->op) {
  case O_PARAM:
    bprintf(b, "%s", pname[n->idx]);
    return;
  case O_VPARAM:
    bprintf(b, "v");
    return;
  case O_FARG:
    bprintf(b, "p%d", n->idx);
    return;
  case O_CONST:
    num(b, n->c);
    return;
  case O_INDEX:
    print_indexed(c, n->kid[0], b);
    bprintf(b, "[%d]", n->idx);
    return;
  case O_SLICE:
    print_indexed(c, n->kid[0], b);
    bprintf(b, "[");
    if (n->has_lo)
      bprintf(b, "%d", n->lo);
    bprintf(b, ":");
    if (n->has_hi)
      bprintf(b, "%d", n->hi);
    if (n->st)
      bprintf(b, ":%d", n->st);
    bprintf(b, "]");
    return;
  case O_NEG:
    bprintf(b, "(-");
    print_expr(c, n->kid[0], b);
    bprintf(b, ")");
    return;
  case O_LIST: case O_CONCAT:
    bprintf(b, n->op == O_CONCAT ? "concat([" : "[");
    for (int i = 0; i < n->nk; i++) {
      if (i)
        bprintf(b, ", ");
      print_expr(c, n->kid[i], b);
    }
    bprintf(b, n->op == O_CONCAT ? "])" : "]");
    return;
  case O_STACKF:
    bprintf(b, "reshape(stack([");
    print_expr(c, n->kid[0], b);
    bprintf(b, ", ");
    print_expr(c, n->kid[1], b);
    bprintf(b, "], axis=%d), [-1])", n->idx);
    return;
  case O_HALVE: {
    static const char *pre[4] = {"sum(reshape(", "reshape(", "reshape(", "max(reshape("};
    static const char *post[4] = {", [-1, 2]), axis=1)", ", [2, -1])[1]", ", [-1, 2])[:, 0]", ", [2, -1]), axis=0)"};
    bprintf(b, "%s", pre[n->idx]);
    print_expr(c, n->kid[0], b);
    bprintf(b, "%s", post[n->idx]);
    return;
  }
  case O_CALL:
    bprintf(b, "u%d(", n->idx);
    for (int i = 0; i < n->nk; i++) {
      if (i)
        bprintf(b, ", ");
      print_expr(c, n->kid[i], b);
    }
    bprintf(b, ")");
    return;
  default:
    break;
  }
  if ((n->op >= O_ADD && n->op <= O_POWOP) || (n->op >= O_LT && n->op <= O_NE)) {
    bprintf(b, "(");
    print_expr(c, n->kid[0], b);
    bprintf(b, " %s ", op_name[n->op]);
    print_expr(c, n->kid[1], b);
    bprintf(b, ")");
    return;
  }
  bprintf(b, "%s(", op_name[n->op]);
  for (int i = 0; i < n->nk; i++) {
    if (i)
      bprintf(b, ", ");
    print_expr(c, n->kid[i], b);
  }
  bprintf(b, ")");
}

static char *program(const Case *c) {
  Buf b = {0};
  bprintf(&b, "param ");
  for (int i = 0; i < c->np; i++)
    bprintf(&b, "%s%s", i ? ", " : "", pname[i]);
  bprintf(&b, "\n");
  if (c->vlen && c->vsym)
    bprintf(&b, "param v[N]\n");
  else if (c->vlen)
    bprintf(&b, "param v[%d]\n", c->vlen);
  for (int f = 0; f < c->nfn; f++) {
    bprintf(&b, "u%d(p0%s) = ", f, c->fn_nargs[f] > 1 ? ", p1" : "");
    print_expr(c, c->fn_root[f], &b);
    bprintf(&b, "\n");
  }
  bprintf(&b, "output f = ");
  print_expr(c, c->root, &b);
  bprintf(&b, "\n");
  return b.s;
}

/* ---- the naive C reference -------------------------------------------------------- */

static double sigmoid_ref(double x) {
  if (x >= 0)
    return 1 / (1 + exp(-x));
  double e = exp(x);
  return e / (1 + e);
}

static double softplus_ref(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

/* The arguments of the call a function body is evaluated for, at one
 * element (bodies are elementwise); NULL outside bodies. */
typedef struct Env {
  double arg[2];
  const int *argnode; /* the argument subtrees (in the caller) */
} Env;

/* Does subtree t read a variable (so that it varies with the point)? */
static int kid_varies(const Case *c, int t, const Env *env) {
  const Node *n = &c->n[t];
  if (n->op == O_PARAM || n->op == O_VPARAM)
    return 1;
  if (n->op == O_FARG)
    return env && kid_varies(c, env->argnode[n->idx], NULL);
  if (n->op == O_CALL) {
    Env e = {{0, 0}, n->kid};
    if (kid_varies(c, c->fn_root[n->idx], &e))
      return 1;
  }
  for (int i = 0; i < n->nk; i++)
    if (kid_varies(c, n->kid[i], env))
      return 1;
  return 0;
}

/* The operator of kid k, seen through a function's parameter. */
static int op_through(const Case *c, int k, const Env *env) {
  if (c->n[k].op == O_FARG && env)
    return c->n[env->argnode[c->n[k].idx]].op;
  return c->n[k].op;
}

/* Evaluate node t into out[0..len-1]; *amb gets bit 1 when the result is
 * not specified (NaN into max/relu/sign/where, non-finite softmax
 * entries...) and bit 2 when a NaN is hidden by C's pow (pow(NaN, 0) and
 * pow(1, NaN) are 1), max, min, relu or sign: the function is then finite
 * only by convention and (d) does not judge the point; bit 4 when a sum,
 * product or integer power of finite operands overflows (then no
 * derivative check judges the point: prod's partials, the products of the
 * other entries, included). */
static double ref_mag; /* the largest finite |value| of any node: the scale of rounding */
static void ref_node(const Case *c, int t, const double *in, double *out, int *amb, const Env *env);

static void ref_eval(const Case *c, int t, const double *in, double *out, int *amb, const Env *env) {
  ref_node(c, t, in, out, amb, env);
  for (int i = 0; i < (c->n[t].len ? c->n[t].len : 1); i++)
    if (isfinite(out[i]) && fabs(out[i]) > ref_mag)
      ref_mag = fabs(out[i]);
}

static void ref_node(const Case *c, int t, const double *in, double *out, int *amb, const Env *env) {
  const Node *n = &c->n[t];
  double a[MAXV] = {0}, b[MAXV] = {0}, d[MAXV] = {0};
  int la = 0, lb = 0, L = n->len ? n->len : 1;
  if (n->nk > 0 && n->op != O_LIST) {
    ref_eval(c, n->kid[0], in, a, amb, env);
    la = c->n[n->kid[0]].len;
  }
  if (n->nk > 1 && n->op != O_LIST) {
    ref_eval(c, n->kid[1], in, b, amb, env);
    lb = c->n[n->kid[1]].len;
  }
  if (n->nk > 2 && n->op != O_LIST)
    ref_eval(c, n->kid[2], in, d, amb, env);
  int ld = n->nk > 2 ? c->n[n->kid[2]].len : 0;
  switch (n->op) {
  case O_PARAM:
    out[0] = in[n->idx];
    return;
  case O_VPARAM:
    for (int i = 0; i < n->len; i++)
      out[i] = in[c->np + i];
    return;
  case O_FARG:
    out[0] = env ? env->arg[n->idx] : 0;
    return;
  case O_CONST:
    out[0] = n->c;
    return;
  case O_INDEX:
    out[0] = a[n->idx < 0 ? n->idx + la : n->idx];
    return;
  case O_LIST:
    for (int i = 0; i < n->nk; i++) {
      double e[MAXV];
      ref_eval(c, n->kid[i], in, e, amb, env);
      out[i] = e[0];
    }
    return;
  case O_SLICE: {
    int first, st = n->st ? n->st : 1, count = py_slice(la, n, &first);
    for (int i = 0; i < count && i < MAXV; i++)
      out[i] = a[first + st * i];
    return;
  }
  case O_CONCAT: {
    int k = 0;
    for (int i = 0; i < la; i++)
      out[k++] = a[i];
    for (int i = 0; i < lb; i++)
      out[k++] = b[i];
    for (int i = 0; i < ld; i++)
      out[k++] = d[i];
    return;
  }
  case O_STACKF: /* axis 0: a then b; axis 1: interleaved */
    for (int i = 0; i < la; i++) {
      out[n->idx ? 2 * i : i] = a[i];
      out[n->idx ? 2 * i + 1 : la + i] = b[i];
    }
    return;
  case O_HALVE:
    for (int i = 0; i < n->len; i++) {
      double p = n->idx == 3 ? a[i] : a[2 * i], q = n->idx == 3 ? a[i + n->len] : a[2 * i + 1];
      if (n->idx == 3 && (isnan(p) || isnan(q)))
        *amb |= 3;
      out[i] = n->idx == 0 ? p + q : n->idx == 1 ? a[n->len + i] : n->idx == 2 ? p : (p >= q ? p : q);
      if (n->idx == 0 && isfinite(p) && isfinite(q) && !isfinite(out[i]))
        *amb |= 4;
    }
    return;
  case O_CUMSUM: {
    double s = 0;
    int fin = 1;
    for (int i = 0; i < la; i++) {
      fin &= isfinite(a[i]);
      s += a[i];
      out[i] = s;
      if (fin && !isfinite(s))
        *amb |= 4;
    }
    return;
  }
  case O_PROD: { /* and the products of the others (prod's partials) */
    double p = 1, pre = 1, suf = 1;
    int fin = 1;
    for (int i = 0; i < la; i++) {
      fin &= isfinite(a[i]);
      p *= a[i];
    }
    for (int i = 0; i < la && fin; i++) {
      int zero = pre == 0 || suf == 0;
      pre *= a[i];
      suf *= a[la - 1 - i];
      if (!isfinite(pre) || !isfinite(suf) || (!zero && a[i] != 0 && a[la - 1 - i] != 0 && (pre == 0 || suf == 0)))
        *amb |= 4; /* a running product overflows or underflows */
    }
    out[0] = p;
    return;
  }
  case O_MAXR: case O_MINR: {
    double m = a[0];
    for (int i = 0; i < la; i++) {
      if (isnan(a[i]))
        *amb |= 3;
      if (n->op == O_MAXR ? a[i] > m : a[i] < m)
        m = a[i];
    }
    out[0] = m;
    return;
  }
  case O_NORM: {
    double s = 0;
    int fin = 1, any = 0;
    for (int i = 0; i < la; i++) {
      fin &= isfinite(a[i]);
      any |= a[i] != 0;
      s += a[i] * a[i];
    }
    if (fin && (!isfinite(s) || (s == 0 && any)))
      *amb |= 4; /* the squares overflow, or underflow to 0 (under the sqrt) */
    out[0] = sqrt(s);
    return;
  }
  case O_CALL:
    for (int i = 0; i < L; i++) {
      Env e = {{la ? a[i] : a[0], lb ? b[i] : b[0]}, n->kid};
      double r[MAXV];
      ref_eval(c, c->fn_root[n->idx], in, r, amb, &e);
      out[i] = r[0];
    }
    return;
  case O_SUM: case O_MEAN: {
    double s = 0;
    for (int i = 0; i < la; i++)
      s += a[i];
    out[0] = n->op == O_MEAN ? s / la : s;
    return;
  }
  case O_LSE: {
    int nan = 0, pinf = 0, allninf = 1;
    double m = -INFINITY;
    for (int i = 0; i < la; i++) {
      nan |= isnan(a[i]);
      pinf |= a[i] == INFINITY;
      allninf &= a[i] == -INFINITY;
      if (a[i] > m)
        m = a[i];
    }
    if (nan)
      *amb |= 1;
    else if (pinf)
      out[0] = INFINITY;
    else if (allninf)
      out[0] = -INFINITY;
    else {
      double s = 0;
      for (int i = 0; i < la; i++)
        s += exp(a[i] - m);
      out[0] = m + log(s);
    }
    return;
  }
  case O_SOFTMAX: case O_LOGSOFTMAX: {
    double m = -INFINITY, s = 0;
    for (int i = 0; i < la; i++) {
      if (!isfinite(a[i]))
        *amb |= 1;
      if (a[i] > m)
        m = a[i];
    }
    for (int i = 0; i < la; i++)
      s += exp(a[i] - m);
    for (int i = 0; i < la; i++)
      out[i] = n->op == O_SOFTMAX ? exp(a[i] - m) / s : a[i] - m - log(s);
    return;
  }
  default:
    break;
  }
  for (int i = 0; i < L; i++) {
    double x = la ? a[i] : a[0], y = lb ? b[i] : b[0], w = ld ? d[i] : d[0], r = 0;
    switch (n->op) {
    case O_NEG: r = -x; break;
    case O_EXP: r = exp(x); break;
    case O_LOG: r = log(x); break;
    case O_SQRT:
      if (x == 0 && kid_varies(c, n->kid[0], env)) /* sqrt'(0) is infinite (bit 16) */
        *amb |= 2 | 16;
      r = sqrt(x);
      break;
    case O_ABS: r = fabs(x); break;
    case O_SIGN:
      if (isnan(x))
        *amb |= 3;
      r = x > 0 ? 1 : x < 0 ? -1 : 0;
      break;
    case O_SIN: r = sin(x); break;
    case O_COS: r = cos(x); break;
    case O_TAN: r = tan(x); break;
    case O_ASIN: case O_ACOS: /* at exactly +-1 the partial is infinite (bit 16) */
      if (fabs(x) == 1 && kid_varies(c, n->kid[0], env))
        *amb |= 2 | 16;
      /* near +-1 it is ill-conditioned: 1 - x^2 keeps eps/(1 - |x|) of
       * relative error (acos(softmax([40, 10])): 1 - 4e-14), so the modes
       * are compared by class only (bit 32) */
      if (fabs(x) < 1 && fabs(x) > 1 - 1e-8)
        *amb |= 32;
      r = n->op == O_ASIN ? asin(x) : acos(x);
      break;
    case O_ATAN: r = atan(x); break;
    case O_SINH: r = sinh(x); break;
    case O_COSH: r = cosh(x); break;
    case O_TANH: r = tanh(x); break;
    case O_ERF: r = erf(x); break;
    case O_SIGMOID: r = sigmoid_ref(x); break;
    case O_RELU:
      if (isnan(x))
        *amb |= 3;
      r = x > 0 ? x : 0;
      break;
    case O_SOFTPLUS: r = softplus_ref(x); break;
    case O_LOG1P: r = log1p(x); break;
    case O_EXPM1: r = expm1(x); break;
    case O_LOGSIG: r = -softplus_ref(-x); break; /* its definition: stable */
    case O_ADD: r = x + y; break;
    case O_SUB: r = x - y; break;
    case O_MUL: r = x * y; break;
    case O_DIV:
      r = x / y;
      /* the partial d/dy = -x/y^2 overflows where x/y does not (x = 1,
       * y = 1e-300): polynomial overflow in derivative code, as for huge
       * inputs below; the modes then meet inf and inf - inf */
      if (isfinite(x) && isfinite(y) && y != 0 && (!isfinite(r) || !isfinite(r / y) || !isfinite(1 / y)))
        *amb |= 4; /* x / 5e-324 overflows: a product, as x * 2e323 (README) */
      break;
    case O_POWOP: case O_POW:
      if ((isnan(x) && y == 0) || (x == 1 && isnan(y)))
        *amb |= 2;
      if (x < 0 && isfinite(x) && kid_varies(c, n->kid[1], env))
        *amb |= 8; /* defined at integer exponents only: d/dy is log(x) = NaN */
      if (x == 0 && y > 0 && y < 1 && kid_varies(c, n->kid[0], env))
        *amb |= 2 | 16; /* d/dx y x^(y-1) is infinite at 0 */
      if ((!isfinite(x) || !isfinite(y)) && isfinite(pow(x, y)))
        *amb |= 2 | 16; /* pow(1, inf), pow(inf, 0): y x^(y-1) or x^y log(x) is infinite */
      if (isfinite(x) && isfinite(y) && x != 0 && isfinite(pow(x, y)) && !isfinite(y * pow(x, y - 1)))
        *amb |= 4; /* the partial y x^(y-1) overflows where x^y does not (x = 2e-309 = y) */
      r = pow(x, y);
      break;
    case O_ATAN2: /* the partials y/(x^2 + y^2), -x/(x^2 + y^2) overflow (at (0, 5e-324)) */
      r = atan2(x, y);
      if (isfinite(x) && isfinite(y) && (x != 0 || y != 0) && !isfinite(1 / fmax(fabs(x), fabs(y))))
        *amb |= 4;
      if (isinf(x) && isinf(y)) /* atan2(inf, inf) = pi/4 by convention: the limit depends on */
        *amb |= 2;              /* how the two overflowed (x^x and exp(x) at 1e10) */
      if (x == 0 && y == 0 && (kid_varies(c, n->kid[0], env) || kid_varies(c, n->kid[1], env)))
        *amb |= 2 | 16; /* the origin: no derivative, partials 0/0 */
      break;
    case O_MAX: case O_MIN:
      if (isnan(x) || isnan(y))
        *amb |= 3;
      r = (n->op == O_MAX ? x > y : x < y) ? x : y;
      break;
    case O_LT: r = x < y; break;
    case O_LE: r = x <= y; break;
    case O_GT: r = x > y; break;
    case O_GE: r = x >= y; break;
    case O_EQ: r = x == y; break;
    case O_NE: r = x != y; break;
    case O_WHERE:
      if (isnan(x))
        *amb |= 1;
      r = x != 0 ? y : w;
      break;
    case O_CLIP: { /* minimum(maximum(x, lo), hi), as lower.c writes it */
      double lo = x < y ? y : x;
      r = lo > w ? w : lo;
      break;
    }
    default: *amb |= 1; break;
    }
    /* polynomial arithmetic that overflows from finite operands: gradc
     * assumes it stays finite and multiplies plainly by it (strong zeros
     * are for exp, log, sqrt, division...: README), so the derivative
     * checks do not judge the point */
    int poly = n->op == O_ADD || n->op == O_SUB || n->op == O_MUL ||
               ((n->op == O_POWOP || n->op == O_POW) && y == floor(y) && fabs(y) <= 16 && y > 0);
    if (poly && isfinite(x) && isfinite(y) && !isfinite(r))
      *amb |= 4;
    /* or underflows to 0 (1e-300 * 1e-300): a sqrt or a division then
     * meets an exact 0 that the reals do not have, and its infinite
     * partial meets the tiny tangent in one mode and the tiny adjoint in
     * the other */
    if (poly && n->op != O_ADD && n->op != O_SUB && r == 0 && x != 0 && (n->op != O_MUL || y != 0) && isfinite(x))
      *amb |= 4;
    out[i] = r;
  }
}

/* A pattern that SPEC 1.6 rewrites to a stable form (which may turn an
 * overflow into a number): the naive reference does not apply. Calls are
 * inlined before the rewrites, so a pattern may span a body and its
 * arguments (u(p0) = log(p0) called with 1 + exp(x)). */
static int has_stable_pattern(const Case *c, int t, const Env *env) {
  const Node *n = &c->n[t];
  if (n->op == O_FARG)
    return 0; /* the argument is checked where it is */
  if (n->op == O_LOG) {
    int k = op_through(c, n->kid[0], env);
    if (k == O_ADD || k == O_SUB || k == O_EXP || k == O_SUM || k == O_SIGMOID || k == O_SOFTMAX ||
        k == O_INDEX || k == O_MEAN || k == O_SLICE || k == O_CONCAT || k == O_STACKF || k == O_HALVE ||
        k == O_CALL)
      return 1;
  }
  if (n->op == O_LOG1P && op_through(c, n->kid[0], env) == O_EXP) /* log1p(exp(x)): softplus */
    return 1;
  if (n->op == O_ADD || n->op == O_SUB) {
    int a = op_through(c, n->kid[0], env), b = op_through(c, n->kid[1], env);
    if ((a == O_EXP && b == O_CONST) || (a == O_CONST && b == O_EXP))
      return 1;
  }
  if (n->op == O_CALL) {
    Env e = {{0, 0}, n->kid};
    if (has_stable_pattern(c, c->fn_root[n->idx], &e))
      return 1;
  }
  for (int i = 0; i < n->nk; i++)
    if (has_stable_pattern(c, n->kid[i], env))
      return 1;
  return 0;
}

/* ---- comparing numbers ---------------------------------------------------------- */

static int agree(double a, double b) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  if (isinf(a) || isinf(b))
    return a == b;
  double d = fabs(a - b);
  return d <= 1e-14 || d <= 1e-12 * fmax(fabs(a), fabs(b));
}

/* Two finite derivatives apart by rounding only: the modes sum the same
 * terms in different orders, and terms of size `terms` (y / [y, x] at
 * y = 1e-8: 1e8 - 1e8) leave about eps times them (floating point is not
 * associative). */
static int rounding_apart(double a, double b, double terms) {
  return isfinite(a) && isfinite(b) && fabs(a - b) <= 64 * DBL_EPSILON * terms;
}

static int num_class(double v) { return isnan(v) ? 0 : v == INFINITY ? 1 : v == -INFINITY ? 2 : 3; }

/* ---- running gradc ---------------------------------------------------------------- */

typedef struct Ctx {
  Gradc *g;
  GradcFn *fv, *fg, *fvjp, *fj, *fh;
  int ni, m;                     /* inputs flattened, output size */
  double val[MAXV];
  double jr[MAXV][MAXIN], jf[MAXV][MAXIN], h[MAXIN][MAXIN];
} Ctx;

typedef struct Report {
  unsigned kinds;
  Buf text;
} Report;

static void note(Report *r, unsigned kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note(Report *r, unsigned kind, const char *fmt, ...) {
  if (!(r->kinds & kind)) { /* the first few lines of each kind */
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    int k = 0;
    while (1u << k != kind)
      k++;
    bprintf(&r->text, "  [%s] %s\n", kind_name[k], line);
  }
  r->kinds |= kind;
}

static int set_point_g(Gradc *g, const Case *c, const double *in) {
  for (int i = 0; i < c->np; i++)
    if (gradc_set_value(g, i, in + i, NULL, 0) != GRADC_OK)
      return 0;
  if (c->vlen) {
    long d = c->vlen;
    if (gradc_set_value(g, c->np, in + c->np, &d, 1) != GRADC_OK)
      return 0;
  }
  return gradc_set_defaults(g, 0, 0) == GRADC_OK;
}

static void ctx_free(Ctx *x) {
  gradc_free(x->g);
  memset(x, 0, sizeof *x);
}

static int ctx_open(Ctx *x, const Case *c, const char *text, GradcBackend be, Report *rep) {
  memset(x, 0, sizeof *x);
  x->g = gradc_new();
  if (!x->g)
    return 0;
  gradc_set_backend(x->g, be);
  x->ni = n_inputs(c);
  x->m = out_len(c) ? out_len(c) : 1;
  if (gradc_compile_string(x->g, "edges.expr", text, strlen(text)) != GRADC_OK) {
    note(rep, K_ERROR, "compile: %s", gradc_diag_render(x->g));
    return 0;
  }
  if (!set_point_g(x->g, c, c->pt[0])) { /* binds N: Hessians of v[N] need its size */
    note(rep, K_ERROR, "setting values: %s", gradc_diag_render(x->g));
    return 0;
  }
  x->fv = gradc_fn_value(x->g);
  x->fj = gradc_fn_jvp(x->g, NULL, 0);
  if (out_len(c) == 0) {
    x->fg = gradc_fn_grad(x->g, NULL, 0);
    x->fh = gradc_fn_hessian(x->g, 0, NULL, 0);
  } else {
    x->fvjp = gradc_fn_vjp(x->g, 0, NULL, 0);
  }
  if (!x->fv || !x->fj || (out_len(c) == 0 ? !x->fg || !x->fh : !x->fvjp)) {
    note(rep, K_ERROR, "building functions (%s): %s", be == GRADC_BACKEND_CC ? "cc" : "tcc",
         gradc_diag_render(x->g));
    return 0;
  }
  return 1;
}

static int set_point(Ctx *x, const Case *c, const double *in) { return set_point_g(x->g, c, in); }

/* The value only (for the differences): 0 if a call fails. */
static int value_at(Ctx *x, const Case *c, const double *in, double *out) {
  if (!set_point(x, c, in) || gradc_run(x->fv, NULL) != GRADC_OK)
    return 0;
  memcpy(out, gradc_fn_res_data(x->fv, 0), (size_t)x->m * sizeof *out);
  return 1;
}

/* Value, both Jacobians and the Hessian at `in`. */
static int eval_all(Ctx *x, const Case *c, const double *in, Report *rep) {
  if (!value_at(x, c, in, x->val)) {
    note(rep, K_ERROR, "value call failed: %s", gradc_diag_render(x->g));
    return 0;
  }
  int ni = x->ni, m = x->m;
  if (x->fg) {
    if (gradc_run(x->fg, NULL) != GRADC_OK)
      goto fail;
    for (int j = 0; j < c->np; j++)
      x->jr[0][j] = gradc_fn_res_data(x->fg, 1 + j)[0];
    if (c->vlen)
      memcpy(&x->jr[0][c->np], gradc_fn_res_data(x->fg, 1 + c->np), (size_t)c->vlen * sizeof(double));
  } else {
    for (int i = 0; i < m; i++) {
      double ct[MAXV] = {0};
      ct[i] = 1;
      const double *args[1] = {ct};
      if (gradc_run(x->fvjp, args) != GRADC_OK)
        goto fail;
      for (int j = 0; j < c->np; j++)
        x->jr[i][j] = gradc_fn_res_data(x->fvjp, 1 + j)[0];
      if (c->vlen)
        memcpy(&x->jr[i][c->np], gradc_fn_res_data(x->fvjp, 1 + c->np), (size_t)c->vlen * sizeof(double));
    }
  }
  for (int e = 0; e < ni; e++) {
    double t[MAXIN + 1] = {0};
    const double *tan[4];
    for (int j = 0; j < c->np; j++)
      tan[j] = t + j;
    tan[c->np] = t + c->np;
    t[e] = 1;
    if (gradc_run(x->fj, tan) != GRADC_OK)
      goto fail;
    const double *d = gradc_fn_res_data(x->fj, 1);
    for (int i = 0; i < m; i++)
      x->jf[i][e] = d[i];
  }
  if (x->fh) {
    if (gradc_run(x->fh, NULL) != GRADC_OK)
      goto fail;
    int res = 1;
    for (int r = 0; r < ni; r++) {
      for (int j = 0; j < c->np; j++)
        x->h[r][j] = gradc_fn_res_data(x->fh, res++)[0];
      if (c->vlen)
        memcpy(&x->h[r][c->np], gradc_fn_res_data(x->fh, res++), (size_t)c->vlen * sizeof(double));
    }
  }
  return 1;
fail:
  note(rep, K_ERROR, "derivative call failed: %s", gradc_diag_render(x->g));
  return 0;
}

static const char *in_name(const Case *c, int j, char *buf) {
  if (j < c->np)
    return pname[j];
  snprintf(buf, 16, "v[%d]", j - c->np);
  return buf;
}

/* (d): derivative entry (i, j) is not finite; is f_i differentiable at the
 * point along input j? With the one-sided quotients q+(h), q-(h) at three
 * steps h0 > h1 > h2 (all finite), a smooth f has q+ - q- = f''h + O(h^2)
 * and (q+ + q-)/2 = f' + O(h^2): the gap must shrink at least linearly with
 * h (a kink keeps it, a jump or a cusp makes it grow) and the central
 * quotients must agree, both up to rounding (16 eps |f| / h). */
static int smooth_along(Ctx *x, const Case *c, const double *in, int i, int j, double *q0) {
  static const double steps[3] = {1e-4, 1e-6, 1e-8};
  double p[MAXIN], f[MAXV], qp[3], qm[3], h[3], fmaxabs = fabs(x->val[i]), moved = 0;
  int allzero = 1;
  if (!isfinite(x->val[i]))
    return 0;
  /* no infinite inputs, and no tiny nonzero ones: a step would jump over
   * 0 (x/x at 5e-324), and products of them underflow */
  for (int k = 0; k < x->ni; k++)
    if (!isfinite(in[k]) || (in[k] != 0 && fabs(in[k]) < 1e-150))
      return 0;
  /* steps relative to |x| (absolute at 0), so x +- h keeps the sign of x */
  double scale = in[j] == 0 ? 1.0 : fabs(in[j]);
  for (int s = 0; s < 3; s++) {
    for (int side = 0; side < 2; side++) {
      memcpy(p, in, sizeof p);
      p[j] = side ? in[j] - steps[s] * scale : in[j] + steps[s] * scale;
      double hh = side ? in[j] - p[j] : p[j] - in[j]; /* the step actually taken */
      if (!value_at(x, c, p, f) || !isfinite(f[i]) || hh <= 0)
        return 0;
      fmaxabs = fmax(fmaxabs, fabs(f[i]));
      double q = side ? (x->val[i] - f[i]) / hh : (f[i] - x->val[i]) / hh;
      if (!isfinite(q) || fabs(q) > 1e300)
        return 0;
      if (side)
        qm[s] = q;
      else
        qp[s] = q, h[s] = hh;
      allzero &= f[i] == x->val[i];
      if (s == 0)
        moved = fmax(moved, fabs(f[i] - x->val[i]));
    }
  }
  /* f changes at the largest step by a few units in the last place only
   * (or not at all, where |f| > 1): its differences are rounding (1e16 -
   * atan2(x, x) jumps by less than an ulp at 0), so smoothness cannot be
   * judged */
  if (moved < 64 * DBL_EPSILON * fmaxabs && !(allzero && fmaxabs <= 1))
    return 0;
  double d0 = fabs(qp[0] - qm[0]), c2 = (qp[2] + qm[2]) / 2, slop2 = 16 * DBL_EPSILON * fmaxabs / h[2];
  for (int s = 1; s < 3; s++) {
    double slop = 16 * DBL_EPSILON * fmaxabs / h[s];
    if (fabs(qp[s] - qm[s]) > 10 * d0 * h[s] / h[0] + 2 * slop)
      return 0;
  }
  for (int s = 0; s < 2; s++) {
    double cs = (qp[s] + qm[s]) / 2, slop = 16 * DBL_EPSILON * fmaxabs / h[s];
    if (fabs(cs - c2) > 1e-2 * fmax(fabs(cs), fabs(c2)) + d0 + slop + slop2)
      return 0;
  }
  *q0 = c2;
  return 1;
}

static void print_point(const Case *c, const double *in, Buf *b) {
  char s[40];
  for (int j = 0; j < c->np; j++) {
    shortest(s, sizeof s, in[j]);
    bprintf(b, "%s%s=%s", j ? " " : "", pname[j], s);
  }
  if (c->vlen) {
    bprintf(b, " v=");
    for (int k = 0; k < c->vlen; k++) {
      shortest(s, sizeof s, in[c->np + k]);
      bprintf(b, "%s%s", k ? "," : "", s);
    }
  }
}

/* Every check at point p (cc when `cc` is open). */
static void check_point(Ctx *t, Ctx *cc, const Case *c, const double *in, int with_ref, Report *rep) {
  char nb[16];
  if (!eval_all(t, c, in, rep))
    return;
  int m = t->m, ni = t->ni;
  /* (f) value against the naive C reference */
  double ref[MAXV] = {0};
  int amb = 0;
  ref_mag = 1; /* at least the inputs and outputs (replay has no tree) */
  for (int i = 0; i < m + ni; i++) {
    double v = i < m ? t->val[i] : in[i - m];
    if (isfinite(v) && fabs(v) > ref_mag)
      ref_mag = fabs(v);
  }
  if (with_ref >= 0) /* -1: no tree (replaying a file) */
    ref_eval(c, c->root, in, ref, &amb, NULL);
  double mag = ref_mag;
  if (with_ref > 0) {
    for (int i = 0; !(amb & 1) && i < m; i++)
      if (num_class(ref[i]) != num_class(t->val[i]))
        note(rep, K_VALUE, "f[%d] = %.17g, naive C gives %.17g", i, t->val[i], ref[i]);
  }
  if (amb & (4 | 8)) /* polynomial overflow, a negative base: see ref_eval */
    goto backends;
  for (int k = 0; k < ni; k++) {
    if (in[k] != 0 && fabs(in[k]) < 1e-150) /* tiny: partials near 1/x overflow and */
      goto backends;                        /* paths of +-1e300 cancel in any order */
    if (fabs(in[k]) > 1e150 && isfinite(in[k])) /* huge: the squares inside derivative */
      goto backends;                            /* rules (erf, atan, asin) overflow */
    if (!isfinite(in[k])) /* strong zeros assume finite variables (README) */
      goto backends;
  }
  /* rounding: derivative code sums terms of about M or M/|x_j|, M the
   * largest value in the program (sinh([x, x]) at 710 gives terms of
   * 1e308, y / [y, x] at y = 1e-8 of 1e8; 1 + 1.7e302 - 1.7e302 is 0 in one
   * order and 1 in the other); at an input of 1e10 or more, only
   * non-finite values are compared */
  double scale[MAXIN];
  int huge = 0;
  for (int k = 0; k < ni; k++) {
    scale[k] = in[k] != 0 && fabs(in[k]) < 1 ? fabs(in[k]) : 1;
    huge |= fabs(in[k]) >= 1e10 || (amb & 32);
  }
  /* (a) the two modes; where a partial is infinite at the point (sqrt at
   * 0, asin at 1, pow(0, 0.5)), one mode may meet inf - inf where the
   * other does not (an infinite adjoint into softmax's VJP: s (t - s.t)),
   * so a non-finite derivative there is not compared: the order of the
   * chain rule decides (README, "Numbers at the edges") */
  for (int i = 0; i < m; i++)
    for (int j = 0; j < ni && isfinite(t->val[i]); j++)
      if (!agree(t->jr[i][j], t->jf[i][j]) &&
          !((amb & 16) && (!isfinite(t->jr[i][j]) || !isfinite(t->jf[i][j]))) &&
          !rounding_apart(t->jr[i][j], t->jf[i][j], huge ? INFINITY : mag / scale[j]))
        note(rep, K_MODES, "df[%d]/d%s: reverse %.17g, forward %.17g", i, in_name(c, j, nb), t->jr[i][j],
             t->jf[i][j]);
  /* (c) Hessian symmetry, up to rounding: the two orders round
   * differently, by about eps M / (|x_r| |x_s|) (v[2] * logsumexp(v[2] +
   * [x, 3]) at v[2] = 1e16: terms of 1e16 that cancel), or 1e-10 relative
   * (second derivatives sum more terms: x / log_softmax(...)[2] at 800
   * differs by 2.4e-12) */
  if (t->fh && isfinite(t->val[0]))
    for (int r = 0; r < ni; r++)
      for (int s = r + 1; s < ni; s++)
        if (!agree(t->h[r][s], t->h[s][r]) && !((amb & 16) && (!isfinite(t->h[r][s]) || !isfinite(t->h[s][r]))) &&
            !rounding_apart(t->h[r][s], t->h[s][r], huge ? INFINITY : mag / (scale[r] * scale[s])) &&
            !(fabs(t->h[r][s] - t->h[s][r]) <= 1e-10 * fmax(fabs(t->h[r][s]), fabs(t->h[s][r])))) {
          char nb2[16];
          note(rep, K_HESSIAN, "d2f/d%s/d%s = %.17g but d2f/d%s/d%s = %.17g", in_name(c, r, nb),
               in_name(c, s, nb2), t->h[r][s], in_name(c, s, nb2), in_name(c, r, nb), t->h[s][r]);
        }
  /* (d) non-finite derivative where f is smooth */
  for (int i = 0; i < m; i++)
    for (int j = 0; j < ni; j++) {
      if ((isfinite(t->jr[i][j]) && isfinite(t->jf[i][j])) || (amb & 2))
        continue;
      double q;
      if (smooth_along(t, c, in, i, j, &q))
        note(rep, K_NAN, "df[%d]/d%s: reverse %.17g, forward %.17g; f = %.17g, one-sided differences ~ %.6g",
             i, in_name(c, j, nb), t->jr[i][j], t->jf[i][j], t->val[i], q);
    }
backends:
  /* (b), (e) the other backend */
  if (cc && cc->g) {
    if (!eval_all(cc, c, in, rep))
      return;
    for (int i = 0; i < m; i++) {
      if (!agree(t->val[i], cc->val[i]))
        note(rep, K_BVALUE, "f[%d]: tcc %.17g, cc %.17g", i, t->val[i], cc->val[i]);
      for (int j = 0; j < ni; j++) {
        if (!agree(t->jr[i][j], cc->jr[i][j]))
          note(rep, K_BACKENDS, "df[%d]/d%s reverse: tcc %.17g, cc %.17g", i, in_name(c, j, nb), t->jr[i][j],
               cc->jr[i][j]);
        if (!agree(t->jf[i][j], cc->jf[i][j]))
          note(rep, K_BACKENDS, "df[%d]/d%s forward: tcc %.17g, cc %.17g", i, in_name(c, j, nb), t->jf[i][j],
               cc->jf[i][j]);
      }
    }
    if (t->fh)
      for (int r = 0; r < ni; r++)
        for (int s = 0; s < ni; s++)
          if (!agree(t->h[r][s], cc->h[r][s]))
            note(rep, K_BACKENDS, "hessian[%d][%d]: tcc %.17g, cc %.17g", r, s, t->h[r][s], cc->h[r][s]);
  }
}

/* All points of a case; the kinds found. `only` restricts to one point (-1: all). */
static unsigned check_case(const Case *c, int use_cc, int only, Report *rep) {
  char *text = program(c);
  Ctx t, cc;
  memset(&cc, 0, sizeof cc);
  int ok = ctx_open(&t, c, text, GRADC_BACKEND_TCC, rep);
  if (ok && use_cc && !ctx_open(&cc, c, text, GRADC_BACKEND_CC, rep))
    ok = 0;
  int with_ref = !has_stable_pattern(c, c->root, NULL);
  for (int p = 0; ok && p < c->npoints; p++)
    if (only < 0 || only == p)
      check_point(&t, use_cc ? &cc : NULL, c, c->pt[p], with_ref, rep);
  ctx_free(&t);
  ctx_free(&cc);
  free(text);
  return rep->kinds;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- shrinking ------------------------------------------------------------------- */

static unsigned kinds_at(const Case *c, int use_cc, int p) {
  Report r = {0};
  unsigned k = check_case(c, use_cc, p, &r);
  free(r.text.s);
  return k;
}

static int tree_size(const Case *c, int t) {
  int s = 1;
  for (int i = 0; i < c->n[t].nk; i++)
    s += tree_size(c, c->n[t].kid[i]);
  return s;
}

static void collect(const Case *c, int t, int *list, int *n) {
  list[(*n)++] = t;
  for (int i = 0; i < c->n[t].nk; i++)
    collect(c, c->n[t].kid[i], list, n);
}

/* Replace subtrees by a child of the same shape or by a leaf while the
 * case keeps finding `kind` at point p; the point stays. */
static void shrink(Case *c, int use_cc, int p, unsigned kind, double deadline_s) {
  double t0 = now_s(); /* wall time: cc compiles in child processes */
  int changed = 1;
  while (changed && now_s() - t0 < deadline_s) {
    changed = 0;
    int list[MAXNODES], n = 0;
    collect(c, c->root, list, &n);
    for (int li = 0; li < n && !changed && now_s() - t0 < deadline_s; li++) {
      int t = list[li];
      Node saved = c->n[t];
      Node cand[12];
      int nc = 0;
      for (int i = 0; i < saved.nk; i++) /* a kid of the same shape, as gradc sees it */
        if (c->n[saved.kid[i]].len == saved.len && c->n[saved.kid[i]].sym == saved.sym)
          cand[nc++] = c->n[saved.kid[i]];
      if (saved.op != O_PARAM && saved.op != O_CONST && saved.op != O_VPARAM && saved.op != O_FARG) {
        if (saved.len == 0) {
          for (int j = 0; j < c->np; j++)
            cand[nc++] = (Node){.op = O_PARAM, .idx = j};
          cand[nc++] = (Node){.op = O_CONST, .c = 1};
          cand[nc++] = (Node){.op = O_CONST, .c = 0};
        } else if (c->vlen == saved.len && c->vsym == saved.sym) {
          cand[nc++] = (Node){.op = O_VPARAM, .len = saved.len, .sym = saved.sym};
        }
      }
      int before = tree_size(c, c->root);
      for (int k = 0; k < nc && !changed; k++) {
        c->n[t] = cand[k];
        if (tree_size(c, c->root) < before && (kinds_at(c, use_cc, p) & kind))
          changed = 1;
        else
          c->n[t] = saved;
      }
    }
  }
  /* then the point: inputs to 0 or 1 where the finding stays */
  for (int j = 0; j < n_inputs(c); j++) {
    static const double simple[2] = {0, 1};
    for (int k = 0; k < 2; k++) {
      double old = c->pt[p][j];
      if (old == simple[k] && !signbit(old))
        break;
      c->pt[p][j] = simple[k];
      if (kinds_at(c, use_cc, p) & kind)
        break;
      c->pt[p][j] = old;
    }
  }
}

/* The operators of a tree as a bit set: findings of one kind with the same
 * set of operators count as one (the first is printed and saved). */
static unsigned long long op_set(const Case *c, int t) {
  unsigned long long s = 1ull << c->n[t].op;
  if (c->n[t].len)
    s |= 1ull << O_COUNT; /* a vector somewhere */
  for (int i = 0; i < c->n[t].nk; i++)
    s |= op_set(c, c->n[t].kid[i]);
  return s;
}

/* ---- findings ----------------------------------------------------------------------- */

typedef struct Opts {
  const char *dir;   /* NULL: do not save */
  int cc_every, points, do_shrink, stop, verbose;
} Opts;

static unsigned long long hash_str(const char *s) {
  unsigned long long h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* distinct shrunk programs seen (per kind), so each is reported once */
#define MAXSEEN 4096
static unsigned long long seen[MAXSEEN];
static int nseen;
static long found_per_kind[NKINDS], distinct_per_kind[NKINDS];

static int seen_before(unsigned long long h) {
  for (int i = 0; i < nseen; i++)
    if (seen[i] == h)
      return 1;
  if (nseen < MAXSEEN)
    seen[nseen++] = h;
  return 0;
}

static void save_finding(const Opts *o, const Case *c, int p, unsigned kinds, const char *kname, const char *details,
                         const char *text) {
  if (!o->dir)
    return;
  mkdir(o->dir, 0777);
  char path[1024];
  Buf pt = {0};
  print_point(c, c->pt[p], &pt);
  snprintf(path, sizeof path, "%s/%s-%016llx.expr", o->dir, kname, hash_str(text) ^ hash_str(pt.s));
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    free(pt.s);
    return;
  }
  fprintf(f, "# fuzz_edges finding: %s\n", kname);
  for (const char *s = details; *s;) { /* the details, as comments */
    const char *e = strchr(s, '\n');
    int len = e ? (int)(e - s) : (int)strlen(s);
    fprintf(f, "#%.*s\n", len, s);
    s += len + (e ? 1 : 0);
  }
  fprintf(f, "#! point %s\n", pt.s);
  fprintf(f, "#! expect");
  for (int k = 0; k < NKINDS; k++)
    if (kinds & (1u << k))
      fprintf(f, " %s", kind_name[k]);
  fprintf(f, "\n");
  if (!has_stable_pattern(c, c->root, NULL)) {
    double ref[MAXV] = {0};
    int amb = 0;
    ref_eval(c, c->root, c->pt[p], ref, &amb, NULL);
    if (!(amb & 1)) {
      fprintf(f, "#! ref");
      for (int i = 0; i < (out_len(c) ? out_len(c) : 1); i++)
        fprintf(f, " %.17g", ref[i]);
      fprintf(f, "\n");
    }
  }
  fputs(text, f);
  fclose(f);
  printf("  saved %s\n", path);
  free(pt.s);
}

/* Check a case; on findings shrink, print and save. Returns the kinds. */
static unsigned run_case(Case *c, int use_cc, const Opts *o) {
  Report rep = {0};
  unsigned kinds = check_case(c, use_cc, -1, &rep);
  free(rep.text.s);
  if (!kinds)
    return 0;
  for (int k = 0; k < NKINDS; k++) {
    unsigned kind = 1u << k;
    if (!(kinds & kind))
      continue;
    found_per_kind[k]++;
    int p = 0; /* the first point that shows it */
    while (p < c->npoints && !(kinds_at(c, use_cc, p) & kind))
      p++;
    if (p == c->npoints)
      continue; /* flaky? should not happen */
    Case s = *c;
    if (o->do_shrink && kind != K_ERROR)
      shrink(&s, use_cc && (kind == K_BACKENDS || kind == K_BVALUE), p, kind, 10.0);
    int cc_needed = use_cc && (kind == K_BACKENDS || kind == K_BVALUE);
    Report r = {0};
    unsigned sk = check_case(&s, cc_needed, p, &r);
    char *text = program(&s);
    Buf pt = {0};
    print_point(&s, s.pt[p], &pt);
    Buf kb = {0};
    bprintf(&kb, "%s|%llx", kind_name[k], op_set(&s, s.root));
    if (!seen_before(hash_str(kb.s))) {
      distinct_per_kind[k]++;
      printf("FINDING %s\n%s  at %s\n%s", kind_name[k], text, pt.s, r.text.s ? r.text.s : "");
      save_finding(o, &s, p, sk, kind_name[k], r.text.s ? r.text.s : "", text);
      fflush(stdout);
    }
    free(kb.s);
    free(pt.s);
    free(text);
    free(r.text.s);
  }
  return kinds;
}

/* ---- replaying saved findings ----------------------------------------------------- */

/* A finding file: the program, "#! point x=.. y=.. v=a,b", optionally
 * "#! ref r0 r1 ..". Runs every check with both backends; 1 if it passes. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return 0;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = calloc((size_t)len + 1, 1);
  if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
    fclose(f);
    free(text);
    return 0;
  }
  fclose(f);
  /* a Case holding only the shape of the program: inputs and output size */
  Case *c = calloc(1, sizeof *c);
  double ref[MAXV];
  int nref = -1;
  Report rep = {0};
  Ctx t, cc;
  int ok = 1;
  memset(&t, 0, sizeof t);
  memset(&cc, 0, sizeof cc);
  Gradc *g = gradc_new();
  if (!c || !g || gradc_compile_string(g, path, text, (size_t)len) != GRADC_OK) {
    printf("FAIL %s: does not compile\n%s", path, g ? gradc_diag_render(g) : "");
    ok = 0;
    goto done;
  }
  long dims[4];
  c->np = 0;
  for (int i = 0; i < gradc_var_count(g); i++) {
    int rank = gradc_var_shape(g, i, dims);
    if (rank == 0)
      c->np++;
    else if (dims[0] > 0)
      c->vlen = (int)dims[0];
    else /* v[N]: as many as the point gives */
      c->vsym = 1;
  }
  c->root = 0;
  c->npoints = 1;
  for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (!strncmp(line, "#! point ", 9)) {
      char *s = line + 9;
      if (c->vsym && strstr(s, "v=")) {
        char *e = strstr(s, "v=") + 2;
        c->vlen = 1;
        for (; *e && *e != '\n' && *e != ' '; e++)
          c->vlen += *e == ',';
        if (c->vlen > MAXVLEN)
          c->vlen = MAXVLEN;
      }
      for (int j = 0; j < n_inputs(c);) {
        char *eq = strchr(s, '=');
        if (!eq)
          break;
        s = eq + 1;
        do {
          char *end;
          c->pt[0][j++] = strtod(s, &end);
          s = end;
        } while (*s == ',' && s++);
      }
    } else if (!strncmp(line, "#! ref ", 7)) {
      char *s = line + 7, *end;
      for (nref = 0; nref < MAXV; nref++, s = end) {
        ref[nref] = strtod(s, &end);
        if (end == s)
          break;
      }
    }
  }
  /* the output's length, once N is bound */
  GradcFn *fv = set_point_g(g, c, c->pt[0]) ? gradc_fn_value(g) : NULL;
  if (!fv || gradc_run(fv, NULL) != GRADC_OK) {
    printf("FAIL %s: the value cannot be computed\n%s", path, gradc_diag_render(g));
    ok = 0;
    goto done;
  }
  int orank = gradc_fn_res_shape(fv, 0, dims);
  c->n[0].len = orank ? (int)dims[0] : 0;
  if (!ctx_open(&t, c, text, GRADC_BACKEND_TCC, &rep) || !ctx_open(&cc, c, text, GRADC_BACKEND_CC, &rep)) {
    ok = 0;
  } else {
    check_point(&t, &cc, c, c->pt[0], -1, &rep);
    for (int i = 0; i < nref && i < t.m; i++)
      if (num_class(ref[i]) != num_class(t.val[i]))
        note(&rep, K_VALUE, "f[%d] = %.17g, naive C gives %.17g", i, t.val[i], ref[i]);
  }
  ok = ok && !rep.kinds;
  printf("%s %s\n%s", ok ? "ok" : "FAIL", path, rep.text.s ? rep.text.s : "");
done:
  ctx_free(&t);
  ctx_free(&cc);
  gradc_free(g);
  free(rep.text.s);
  free(c);
  free(text);
  return ok;
}

/* ---- libFuzzer entry ----------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static Case c;
  if (size < 4 || !make_case(&c, data, size, 4))
    return 0;
  Opts o = {.dir = getenv("GRADC_EDGES_FINDINGS") ? getenv("GRADC_EDGES_FINDINGS") : "tests/fuzz/findings",
            .do_shrink = 1};
  if (run_case(&c, data[0] % 20 == 19, &o))
    abort();
  return 0;
}

/* ---- the standalone program -------------------------------------------------------- */

#ifdef FUZZ_EDGES_MAIN
static unsigned long long splitmix(unsigned long long *s) {
  unsigned long long z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int usage(void) {
  fprintf(stderr, "usage: fuzz_edges [--seconds S] [--seed N] [--cc-every N] [--points K] [--findings DIR]\n"
                  "                  [--no-save] [--no-shrink] [--stop] [-v] | --quick | --replay FILE...\n");
  return 2;
}

int main(int argc, char **argv) {
  double seconds = 10;
  unsigned long long seed = (unsigned long long)time(NULL);
  long max_cases = -1;
  Opts o = {.dir = "tests/fuzz/findings", .cc_every = 20, .points = 6, .do_shrink = 1};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--replay")) {
      int ok = 1;
      for (int k = i + 1; k < argc; k++)
        ok &= replay_file(argv[k]);
      return ok ? 0 : 1;
    } else if (!strcmp(a, "--quick")) {
      seconds = 3;
      seed = 1;
      o.dir = NULL;
      o.do_shrink = 0;
    } else if (!strcmp(a, "--no-save")) {
      o.dir = NULL;
    } else if (!strcmp(a, "--no-shrink")) {
      o.do_shrink = 0;
    } else if (!strcmp(a, "--stop")) {
      o.stop = 1;
    } else if (!strcmp(a, "-v")) {
      o.verbose = 1;
    } else if (v && !strcmp(a, "--seconds")) {
      seconds = atof(v), i++;
    } else if (v && !strcmp(a, "--cases")) {
      max_cases = atol(v), i++;
    } else if (v && !strcmp(a, "--seed")) {
      seed = strtoull(v, NULL, 0), i++;
    } else if (v && !strcmp(a, "--cc-every")) {
      o.cc_every = atoi(v), i++;
    } else if (v && !strcmp(a, "--points")) {
      o.points = atoi(v), i++;
    } else if (v && !strcmp(a, "--findings")) {
      o.dir = v, i++;
    } else {
      return usage();
    }
  }
  printf("fuzz_edges: seed %llu, %.0f s, cc every %d cases\n", seed, seconds, o.cc_every);
  double t0 = now_s(), t_find = 0; /* t_find: shrinking and reporting */
  long cases = 0, points = 0, with_findings = 0;
  static Case c;
  uint8_t bytes[512];
  while (now_s() - t0 < seconds && (max_cases < 0 || cases < max_cases)) {
    unsigned long long s = seed * 1000003ull + (unsigned long long)cases;
    for (size_t i = 0; i < sizeof bytes; i += 8) {
      unsigned long long r = splitmix(&s);
      memcpy(bytes + i, &r, 8);
    }
    cases++;
    if (!make_case(&c, bytes, sizeof bytes, o.points))
      continue;
    points += c.npoints;
    int use_cc = o.cc_every > 0 && cases % o.cc_every == 0;
    if (o.verbose) {
      char *text = program(&c);
      printf("case %ld:\n%s", cases, text);
      free(text);
    }
    double t1 = now_s();
    Report rep = {0};
    unsigned k = check_case(&c, use_cc, -1, &rep);
    free(rep.text.s);
    if (k) {
      with_findings++;
      printf("-- case %ld (seed %llu)\n", cases, seed);
      run_case(&c, use_cc, &o);
      t_find += now_s() - t1;
      if (o.stop)
        break;
    }
  }
  double el = now_s() - t0;
  printf("fuzz_edges: %ld cases (%ld points) in %.1f s, %.1f s of it shrinking and reporting findings\n", cases, points, el,
         t_find);
  printf("fuzz_edges: checking %.1f cases/s, %.1f points/s (%.1f cases/s overall)\n", cases / (el - t_find),
         points / (el - t_find), cases / el);
  printf("fuzz_edges: %ld cases with findings\n", with_findings);
  for (int k = 0; k < NKINDS; k++)
    if (found_per_kind[k])
      printf("  %-9s %ld cases, %ld distinct (by operators after shrinking)\n", kind_name[k], found_per_kind[k],
             distinct_per_kind[k]);
  return with_findings ? 1 : 0;
}
#endif
