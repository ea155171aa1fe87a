/* dag.c: the hash-consed DAG. Every node is built by dag_op(), which folds
 * constants and safe algebraic identities before looking the node up, so
 * equal subexpressions are one node by construction (Lua's lcode.c does
 * the same while it builds). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "../runtime/gradc_rt.h"

GRADC_RT_RELU
GRADC_RT_SIGN
GRADC_RT_SIGMOID
GRADC_RT_TANH
GRADC_RT_SOFTPLUS
GRADC_RT_MAX
GRADC_RT_MIN
GRADC_RT_MOD
GRADC_RT_LOGADDEXP

const OpInfo op_info[OP_COUNT] = {
#define OP(e, s, n, c) [OP_##e] = {#e, s, n, c},
#include "ops.def"
#undef OP
};

#define DEFAULT_MAX_NODES (64u * 1024 * 1024)

Dag *dag_new(void) {
  Dag *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  g->nbucket = 1024;
  g->bucket = big_alloc(g->nbucket * sizeof *g->bucket); /* zeroed: empty */
  g->shapes = calloc(16, sizeof *g->shapes);
  if (!g->bucket || !g->shapes) {
    dag_free(g);
    return NULL;
  }
  g->capshape = 16;
  g->nshape = 1; /* shape 0: the scalar */
  return g;
}

void dag_free(Dag *g) {
  if (!g)
    return;
  free(g->slices);
  free(g->dims);
  big_free(g->nodes);
  big_free(g->bucket);
  free(g->shapes);
  free(g);
}


static uint64_t mix(uint64_t z) { /* splitmix64's finaliser */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static int commutative(OpKind op) {
  return op == OP_ADD || op == OP_MUL || op == OP_SMUL || op == OP_MAX || op == OP_MIN ||
         op == OP_EQ || op == OP_NE;
}

/* Operands of a commutative operator hash in either order, so that a*b
 * finds b*a with one probe sequence. */
static uint32_t hash(const Node *n) {
  uint64_t h = mix(n->op | (uint64_t)n->nargs << 8 | (uint64_t)n->shape << 16);
  NodeId a = n->arg[0], b = n->arg[1];
  if (commutative((OpKind)n->op) && a > b) {
    NodeId t = a;
    a = b;
    b = t;
  }
  h = mix(h ^ ((uint64_t)a << 32 | b));
  h = mix(h ^ n->arg[2] ^ ((uint64_t)n->v.idx * 0x9e3779b97f4a7c15ull));
  return (uint32_t)h;
}

static int same(const Node *a, const Node *b) {
  return a->op == b->op && a->nargs == b->nargs && a->shape == b->shape &&
         ((a->arg[0] == b->arg[0] && a->arg[1] == b->arg[1]) ||
          (commutative((OpKind)a->op) && a->arg[0] == b->arg[1] && a->arg[1] == b->arg[0])) &&
         a->arg[2] == b->arg[2] && a->v.idx == b->v.idx;
}

/* The hash-cons table: open addressing, at most half full. A slot holds
 * the node's 32-bit hash (high half) and 1 + its id (low half; 0: empty),
 * so a probe reads a node only when the hashes agree, and growing the
 * table reads no node at all. */
static uint64_t *slot_of(const Dag *g, const Node *key, uint32_t h, NodeId *found) {
  uint32_t mask = g->nbucket - 1;
  for (uint32_t i = h & mask;; i = (i + 1) & mask) {
    uint64_t s = g->bucket[i];
    if (!s || ((s >> 32) == h && same(&g->nodes[(uint32_t)s - 1], key))) {
      *found = s ? (uint32_t)s - 1 : NO_NODE;
      return &g->bucket[i];
    }
  }
}

static int rehash(Dag *g) {
  uint32_t nb = g->nbucket * 2;
  uint64_t *b = big_alloc((size_t)nb * sizeof *b);
  if (!b)
    return 0;
  for (uint32_t i = 0; i < g->nbucket; i++) {
    uint64_t s = g->bucket[i];
    if (!s)
      continue;
    uint32_t j = (uint32_t)(s >> 32) & (nb - 1);
    while (b[j])
      j = (j + 1) & (nb - 1);
    b[j] = s;
  }
  big_free(g->bucket);
  g->bucket = b;
  g->nbucket = nb;
  return 1;
}

#define MAX_ELEMENTS (1ll << 40)

/* A value that cannot be zero: a nonzero finite constant, a dimension, or
 * a product of them (dag_dim_size), possibly broadcast. */
int dag_nonzero(const Dag *g, NodeId n) {
  const Node *x = &g->nodes[n];
  if (x->op == OP_BCAST)
    x = &g->nodes[x->arg[0]];
  if (x->op == OP_CONST)
    return x->v.num != 0 && isfinite(x->v.num);
  if (x->op == OP_MUL)
    return dag_nonzero(g, x->arg[0]) && dag_nonzero(g, x->arg[1]);
  return x->op == OP_DIM && dim_min(g, ~x->v.idx) > 0; /* a derived size may be 0 */
}

/* NF_NONFINITE: may this node be infinite or NaN with every variable
 * finite? Operators that can overflow or leave their domain at a finite
 * argument start it; the others pass on their arguments'. */
static unsigned node_flags(const Dag *g, const Node *k) {
  unsigned f = 0;
  for (int i = 0; i < k->nargs; i++)
    f |= g->nodes[k->arg[i]].flags & NF_NONFINITE;
  switch ((OpKind)k->op) {
  case OP_CONST:
    return isfinite(k->v.num) ? 0 : NF_NONFINITE;
  case OP_VAR: /* a stand-in (dag_stand_in) is what it stands for */
    return k->arg[0] != NO_NODE ? g->nodes[k->arg[0]].flags & NF_NONFINITE : 0;
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
  case OP_ARGMAX: case OP_ONEHOT:
    return 0;
  case OP_WHERE: /* the condition only chooses */
    return (g->nodes[k->arg[1]].flags | g->nodes[k->arg[2]].flags) & NF_NONFINITE;
  case OP_DIV: { /* by a subnormal constant, 1/c overflows: so does the partial */
    const Node *c = &g->nodes[k->arg[1]];
    if (c->op == OP_BCAST)
      c = &g->nodes[c->arg[0]];
    if (c->op == OP_CONST && !isfinite(1.0 / c->v.num))
      return NF_NONFINITE;
    return dag_nonzero(g, k->arg[1]) || stable_finite(g, k) ? f : NF_NONFINITE;
  }
  case OP_POW: {
    int n;
    return dag_small_int_pow(g, k->arg[1], &n) && n > 0 ? f : NF_NONFINITE;
  }
  case OP_EXP: case OP_LOG:
    return stable_finite(g, k) ? f : NF_NONFINITE;
  case OP_MOD: /* fmod(a, 0) is NaN */
    return dag_nonzero(g, k->arg[1]) ? f : NF_NONFINITE;
  case OP_PROD: case OP_LINSCAN: /* a product of many finite numbers may overflow */
    return NF_NONFINITE;
  case OP_TAKE: case OP_SCATTER: /* the indices only choose */
    return g->nodes[k->arg[0]].flags & NF_NONFINITE;
  case OP_SQRT: case OP_ASIN: case OP_ACOS:
  case OP_SINH: case OP_COSH: case OP_LOG1P: case OP_EXPM1:
    return NF_NONFINITE;
  default:
    return f;
  }
}

/* Find the node, or append it. */
static NodeId intern(Dag *g, Node *key) {
  if (g->oom)
    return NO_NODE;
  if (key->shape != SHAPE_SCALAR) { /* tensors whose literal size is absurd */
    const Shape *s = &g->shapes[key->shape];
    double n = 1;
    for (int i = 0; i < s->rank; i++)
      n *= s->dim[i] > 0 ? (double)s->dim[i] : 1;
    if (n > (double)MAX_ELEMENTS) {
      char sx[96];
      shape_format(g, key->shape, sx, sizeof sx);
      snprintf(g->err, sizeof g->err, "the result %s is too large (more than 2^40 elements)", sx);
      return NO_NODE;
    }
  }
  key->flags = (uint16_t)node_flags(g, key);
  uint32_t h = hash(key);
  NodeId found;
  uint64_t *slot = slot_of(g, key, h, &found);
  if (found != NO_NODE)
    return found;
  uint32_t limit = g->max_nodes ? g->max_nodes : DEFAULT_MAX_NODES;
  if (g->count >= limit) {
    g->oom = 2;
    return NO_NODE;
  }
  if (g->count == g->cap) {
    uint32_t cap = g->cap ? g->cap * 2 : 1024;
    Node *nodes = big_grow(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) {
      g->oom = 1;
      return NO_NODE;
    }
    g->nodes = nodes;
    g->cap = cap;
  }
  if ((g->count + 1) * 2 > g->nbucket) {
    if (!rehash(g)) {
      g->oom = 1;
      return NO_NODE;
    }
    slot = slot_of(g, key, h, &found);
  }
  NodeId id = g->count++;
  g->nodes[id] = *key;
  *slot = (uint64_t)h << 32 | ((uint64_t)id + 1);
  return id;
}

NodeId dag_const(Dag *g, double x) {
  Node key = {.op = OP_CONST, .arg = {NO_NODE, NO_NODE, NO_NODE}};
  key.v.num = x;
  return intern(g, &key);
}

NodeId dag_var(Dag *g, int index, ShapeId shape) {
  Node key = {.op = OP_VAR, .shape = shape, .arg = {NO_NODE, NO_NODE, NO_NODE}};
  key.v.idx = index;
  return intern(g, &key);
}

NodeId dag_stand_in(Dag *g, int index, NodeId n) {
  if (g->oom || n == NO_NODE || n >= g->count)
    return NO_NODE;
  Node key = {.op = OP_VAR, .shape = g->nodes[n].shape, .arg = {n, NO_NODE, NO_NODE}};
  key.v.idx = index;
  return intern(g, &key);
}

NodeId dag_with_args(Dag *g, NodeId n, const NodeId *args) {
  if (g->oom || n == NO_NODE || n >= g->count)
    return NO_NODE;
  Node key = g->nodes[n];
  for (int k = 0; k < key.nargs; k++) {
    if (args[k] == NO_NODE || args[k] >= g->count || g->nodes[args[k]].shape != g->nodes[key.arg[k]].shape)
      return NO_NODE;
    key.arg[k] = args[k];
  }
  return intern(g, &key);
}

/* x^n for a small integer n is emitted as the product x*x*...*x (and its
 * reciprocal for n < 0); folding computes it the same way. */
#define MAX_INT_POW 16

int dag_small_int_pow(const Dag *g, NodeId e, int *n) {
  if (e == NO_NODE || !dag_is_const(g, e))
    return 0;
  double v = dag_num(g, e);
  if (v != floor(v) || fabs(v) > MAX_INT_POW || v == 0)
    return 0;
  *n = (int)v;
  return 1;
}

static double powi(double x, int n) {
  int m = n < 0 ? -n : n;
  double r = x;
  for (int i = 1; i < m; i++)
    r = r * x;
  return n < 0 ? 1.0 / r : r;
}

static int is_small_int(double v) {
  return v == floor(v) && fabs(v) <= MAX_INT_POW && v != 0;
}

double dag_eval_op(OpKind op, const double *x) {
  switch (op) {
  case OP_ADD: return x[0] + x[1];
  case OP_SUB: return x[0] - x[1];
  case OP_MUL: return x[0] * x[1];
  case OP_DIV: return x[0] / x[1];
  case OP_NEG: return -x[0];
  case OP_POW: return is_small_int(x[1]) ? powi(x[0], (int)x[1]) : pow(x[0], x[1]);
  case OP_LT: return x[0] < x[1];
  case OP_LE: return x[0] <= x[1];
  case OP_GT: return x[0] > x[1];
  case OP_GE: return x[0] >= x[1];
  case OP_EQ: return x[0] == x[1];
  case OP_NE: return x[0] != x[1];
  case OP_EXP: return exp(x[0]);
  case OP_LOG: return log(x[0]);
  case OP_SQRT: return sqrt(x[0]);
  case OP_ABS: return fabs(x[0]);
  case OP_SIGN: return g_sign(x[0]);
  case OP_SIN: return sin(x[0]);
  case OP_COS: return cos(x[0]);
  case OP_TAN: return tan(x[0]);
  case OP_ASIN: return asin(x[0]);
  case OP_ACOS: return acos(x[0]);
  case OP_ATAN: return atan(x[0]);
  case OP_SINH: return sinh(x[0]);
  case OP_COSH: return cosh(x[0]);
  case OP_TANH: return g_tanh(x[0]);
  case OP_ERF: return erf(x[0]);
  case OP_SIGMOID: return g_sigmoid(x[0]);
  case OP_RELU: return g_relu(x[0]);
  case OP_SOFTPLUS: return g_softplus(x[0]);
  case OP_LOG1P: return log1p(x[0]);
  case OP_EXPM1: return expm1(x[0]);
  case OP_ATAN2: return atan2(x[0], x[1]);
  case OP_MAX: return g_max(x[0], x[1]);
  case OP_MIN: return g_min(x[0], x[1]);
  case OP_WHERE: return x[0] != 0 ? x[1] : x[2];
  case OP_SMUL: return x[0] == 0 || x[1] == 0 ? 0.0 : x[0] * x[1];
  case OP_STOP: return x[0];
  case OP_FLOOR: return floor(x[0]);
  case OP_CEIL: return ceil(x[0]);
  case OP_ROUND: return rint(x[0]); /* half to even, as numpy.round */
  case OP_MOD: return g_mod(x[0], x[1]);
  case OP_LOGADDEXP: return g_logaddexp(x[0], x[1]);
  default: break; /* not elementwise */
  }
  return NAN;
}

/* A constant, or a tensor filled with one (BCAST of a constant). */
static int is_num(const Dag *g, NodeId n, double v) {
  if (g->nodes[n].op == OP_BCAST)
    n = g->nodes[n].arg[0];
  return dag_is_const(g, n) && dag_num(g, n) == v;
}

/* Is n >= 0 (or NaN) wherever it is defined? Sums of squares and the like;
 * walks at most a few levels, never the whole graph. */
static int nonnegative_depth(const Dag *g, NodeId n, int depth) {
  const Node *x = &g->nodes[n];
  if (depth > 8)
    return 0;
  switch ((OpKind)x->op) {
  case OP_CONST: return !(x->v.num < 0);
  case OP_ABS: case OP_EXP: case OP_SQRT: case OP_SIGMOID: case OP_RELU:
  case OP_SOFTPLUS: case OP_COSH: case OP_ONEHOT: case OP_IOTA:
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
    return 1;
  case OP_MUL: case OP_SMUL:
    return x->arg[0] == x->arg[1] ||
           (nonnegative_depth(g, x->arg[0], depth + 1) && nonnegative_depth(g, x->arg[1], depth + 1));
  case OP_POW: {
    int k;
    if (dag_small_int_pow(g, x->arg[1], &k) && k % 2 == 0)
      return 1;
    return nonnegative_depth(g, x->arg[0], depth + 1);
  }
  case OP_ADD: case OP_DIV: case OP_MAX: case OP_MATMUL:
    return nonnegative_depth(g, x->arg[0], depth + 1) && nonnegative_depth(g, x->arg[1], depth + 1);
  case OP_SUM: case OP_BCAST: case OP_RESHAPE: case OP_TRANSPOSE: case OP_SLICE:
  case OP_MAXR: case OP_AMAX: case OP_CUMSUM: case OP_TAKE: case OP_DIM:
    return x->op == OP_DIM || nonnegative_depth(g, x->arg[0], depth + 1);
  default:
    return 0;
  }
}

static int nonnegative(const Dag *g, NodeId n) { return nonnegative_depth(g, n, 0); }

/* A zero of the given sign (1: -0.0) as a constant or a fill. */
static int is_zero(const Dag *g, NodeId n, int negative) {
  if (g->nodes[n].op == OP_BCAST)
    n = g->nodes[n].arg[0];
  return dag_is_const(g, n) && dag_num(g, n) == 0 && !!signbit(dag_num(g, n)) == negative;
}

static NodeId shape_err(Dag *g, const char *what, NodeId a, NodeId b) {
  char sa[96], sb[96];
  shape_format(g, dag_shape(g, a), sa, sizeof sa);
  if (b == NO_NODE) {
    snprintf(g->err, sizeof g->err, "%s %s", what, sa);
  } else {
    shape_format(g, dag_shape(g, b), sb, sizeof sb);
    snprintf(g->err, sizeof g->err, "%s %s and %s", what, sa, sb);
  }
  return NO_NODE;
}

/* Safe identities, applied before hash-consing. They keep IEEE outcomes
 * (SPEC 1.6): nothing here turns a NaN or an infinity into a number or back,
 * so 0*x, 0/x and x-x are left alone unless x is a constant (and then
 * folding decides). Returns the simpler node, or NO_NODE when none applies. */
static NodeId identity(Dag *g, OpKind op, NodeId a, NodeId b, NodeId c) {
  const Node *na = &g->nodes[a];
  NodeId s = stable_rewrite(g, op, a, b); /* stable.c */
  if (s != NO_NODE || g->oom)
    return s;
  na = &g->nodes[a];
  switch (op) {
  case OP_ADD: /* a + -b is exactly a - b; x + -0 is x, but x + 0 is not
                * (-0 + 0 is +0: 1/(x + 0) at x = -0 is +inf) */
    if (is_zero(g, a, 1)) return b;
    if (is_zero(g, b, 1)) return a;
    if (g->nodes[b].op == OP_NEG) return dag_sub(g, a, g->nodes[b].arg[0]);
    if (na->op == OP_NEG) return dag_sub(g, b, na->arg[0]);
    break;
  case OP_SUB: /* x - 0 is x, -0 - x is -x; 0 - x is not (0 - 0 is +0) */
    if (is_zero(g, b, 0)) return a;
    if (is_zero(g, a, 1)) return dag_neg(g, b);
    if (g->nodes[b].op == OP_NEG) return dag_add(g, a, g->nodes[b].arg[0]);
    break;
  case OP_SMUL: /* derivative code: a zero factor wins (strong zero) */
    if (is_num(g, a, 0) || is_num(g, b, 0)) return dag_const(g, 0);
    /* fall through */
  case OP_MUL:
    if (is_num(g, a, 1)) return b;
    if (is_num(g, b, 1)) return a;
    if (is_num(g, a, -1)) return dag_neg(g, b);
    if (is_num(g, b, -1)) return dag_neg(g, a);
    /* sqrt(u)*sqrt(u) -> u for u >= 0: exact where sqrt(u)^2 rounds */
    if (a == b && na->op == OP_SQRT && nonnegative(g, na->arg[0])) return na->arg[0];
    break;
  case OP_DIV:
    if (is_num(g, b, 1)) return a;
    if (is_num(g, b, -1)) return dag_neg(g, a);
    break;
  case OP_NEG:
    if (na->op == OP_NEG) return na->arg[0];
    break;
  case OP_POW:
    if (is_num(g, b, 1)) return a;
    if (is_num(g, b, 0) || is_num(g, a, 1)) return dag_const(g, 1);
    if (is_num(g, b, 2) && na->op == OP_SQRT && nonnegative(g, na->arg[0])) return na->arg[0];
    break;
  case OP_MAX:
  case OP_MIN:
    if (a == b) return a;
    break;
  case OP_WHERE:
    if (dag_is_const(g, a)) return dag_num(g, a) != 0 ? b : c;
    if (b == c) return b;
    break;
  default:
    break;
  }
  return NO_NODE;
}

NodeId dag_op(Dag *g, OpKind op, NodeId a, NodeId b, NodeId c) {
  if (g->oom)
    return NO_NODE;
  int nargs = op_info[op].nargs;
  NodeId args[3] = {a, nargs > 1 ? b : NO_NODE, nargs > 2 ? c : NO_NODE};
  for (int i = 0; i < nargs; i++)
    if (args[i] == NO_NODE || args[i] >= g->count)
      return NO_NODE;
  /* constant folding: only results that a C literal can spell */
  int allconst = 1;
  double x[3] = {0, 0, 0};
  for (int i = 0; i < nargs; i++) {
    allconst &= dag_is_const(g, args[i]);
    x[i] = g->nodes[args[i]].v.num;
  }
  if (allconst) {
    double r = dag_eval_op(op, x);
    if (isfinite(r))
      return dag_const(g, r);
  }
  /* the result's shape: every argument broadcast together */
  ShapeId shape = SHAPE_SCALAR;
  for (int i = 0; i < nargs; i++)
    if (shape_broadcast(g, shape, dag_shape(g, args[i]), &shape) < 0)
      return shape_err(g, "cannot broadcast shapes", args[0], args[i]);
  NodeId s = identity(g, op, args[0], args[1], args[2]);
  if (g->oom)
    return NO_NODE;
  if (s != NO_NODE)
    return dag_shape(g, s) == shape ? s : dag_bcast(g, s, shape);
  if (op == OP_SMUL && !dag_nonfinite(g, args[0]) && !dag_nonfinite(g, args[1]))
    op = OP_MUL; /* both finite: a zero factor gives 0 anyway */
  Node key = {.op = (uint8_t)op, .nargs = (uint8_t)nargs,
              .arg = {args[0], args[1], args[2]}};
  key.shape = shape;
  return intern(g, &key); /* finds b*a for a*b too */
}

/* ---- tensor constructors ---------------------------------------------- */

static NodeId node1(Dag *g, OpKind op, NodeId x, ShapeId shape, int64_t payload) {
  if (g->oom || x == NO_NODE)
    return NO_NODE;
  Node key = {.op = (uint8_t)op, .nargs = 1, .shape = shape,
              .arg = {x, NO_NODE, NO_NODE}};
  key.v.idx = payload;
  return intern(g, &key);
}

/* The scalar a BCAST node fills its tensor with, or NO_NODE. */
static NodeId fill_of(const Dag *g, NodeId x) {
  const Node *n = &g->nodes[x];
  if (n->op == OP_BCAST && dag_shape(g, n->arg[0]) == SHAPE_SCALAR)
    return n->arg[0];
  return dag_shape(g, x) == SHAPE_SCALAR ? x : NO_NODE;
}

/* May shape xs be broadcast to `to`? Each dimension equal, 1, or symbolic
 * sizes that may be equal (then checked at call time: dag_node_checks). */
static int bcast_ok(const Dag *g, ShapeId xs, ShapeId to) {
  const Shape *x = shape_get(g, xs), *t = shape_get(g, to);
  if (x->rank > t->rank)
    return 0;
  for (int i = 0; i < x->rank; i++) {
    int64_t dx = x->dim[i], dt = t->dim[t->rank - x->rank + i];
    if (!(dx == dt || dx == 1 || dims_may_equal(g, dx, dt)))
      return 0;
  }
  return 1;
}

NodeId dag_bcast(Dag *g, NodeId x, ShapeId to) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  if (dag_shape(g, x) == to)
    return x;
  if (!bcast_ok(g, dag_shape(g, x), to)) {
    char st[128];
    shape_format(g, to, st, sizeof st);
    shape_err(g, "cannot broadcast", x, NO_NODE);
    size_t n = strlen(g->err);
    snprintf(g->err + n, sizeof g->err - n, " to %s", st);
    return NO_NODE;
  }
  if (g->nodes[x].op == OP_BCAST)
    x = g->nodes[x].arg[0];
  return node1(g, OP_BCAST, x, to, 0);
}

NodeId dag_reshape(Dag *g, NodeId x, ShapeId to) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  if (dag_shape(g, x) == to)
    return x;
  NodeId f = fill_of(g, x);
  if (f != NO_NODE)
    return dag_bcast(g, f, to);
  if (g->nodes[x].op == OP_RESHAPE)
    x = g->nodes[x].arg[0];
  if (dag_shape(g, x) == to)
    return x;
  return node1(g, OP_RESHAPE, x, to, 0);
}

static NodeId reduce(Dag *g, OpKind op, NodeId x, int axis) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId s = dag_shape(g, x);
  int rank = shape_rank(g, s);
  if (axis >= rank) {
    char sx[128];
    shape_format(g, s, sx, sizeof sx);
    snprintf(g->err, sizeof g->err, "axis %d is out of range for shape %s", axis, sx);
    return NO_NODE;
  }
  if (rank == 0)
    return op == OP_ARGMAX ? dag_const(g, 0) : x;
  if (axis >= 0 && rank == 1)
    axis = -1;
  ShapeId out = shape_drop(g, s, axis);
  NodeId f = fill_of(g, x);
  if (f != NO_NODE && op == OP_SUM && is_num(g, f, 0))
    return dag_bcast(g, f, out);
  if (f != NO_NODE && (op == OP_MAXR || op == OP_AMAX))
    return dag_bcast(g, f, out);
  return node1(g, op, x, out, axis);
}

NodeId dag_amax(Dag *g, NodeId x, int axis) { return reduce(g, OP_AMAX, x, axis); }
NodeId dag_prod(Dag *g, NodeId x, int axis) { return reduce(g, OP_PROD, x, axis); }

NodeId dag_cumsum(Dag *g, NodeId x, int axis, int reversed) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId s = dag_shape(g, x);
  if (axis < 0 || axis >= shape_rank(g, s)) {
    snprintf(g->err, sizeof g->err, "needs an axis of a tensor");
    return NO_NODE;
  }
  if (is_num(g, x, 0))
    return x;
  return node1(g, OP_CUMSUM, x, s, 2 * (int64_t)axis + (reversed != 0));
}

/* The shape of take(x, idx, axis): x's with the axis replaced by idx's. */
static int take_shape(Dag *g, ShapeId xs, ShapeId is, int axis, ShapeId *out) {
  const Shape *x = shape_get(g, xs), *ix = shape_get(g, is);
  if (x->rank - 1 + ix->rank > MAX_RANK)
    return -1;
  Shape r = {0};
  for (int k = 0; k < axis; k++)
    r.dim[r.rank++] = x->dim[k];
  for (int k = 0; k < ix->rank; k++)
    r.dim[r.rank++] = ix->dim[k];
  for (int k = axis + 1; k < x->rank; k++)
    r.dim[r.rank++] = x->dim[k];
  *out = shape_intern(g, &r);
  return 0;
}

NodeId dag_take(Dag *g, NodeId x, NodeId idx, int axis) {
  if (x == NO_NODE || idx == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId out;
  if (axis < 0 || axis >= shape_rank(g, dag_shape(g, x)))
    return shape_err(g, "axis out of range for", x, NO_NODE);
  if (take_shape(g, dag_shape(g, x), dag_shape(g, idx), axis, &out) < 0)
    return shape_err(g, "the result would have more than 4 dimensions: indices", idx, NO_NODE);
  Node key = {.op = OP_TAKE, .nargs = 2, .shape = out, .arg = {x, idx, NO_NODE}};
  key.v.idx = axis;
  return intern(g, &key);
}

NodeId dag_scatter(Dag *g, NodeId t, NodeId idx, int axis, ShapeId to) {
  if (t == NO_NODE || idx == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId ts;
  if (take_shape(g, to, dag_shape(g, idx), axis, &ts) < 0)
    return shape_err(g, "internal: scatter of", t, NO_NODE);
  if (dag_shape(g, t) != ts)
    t = dag_bcast(g, t, ts);
  if (t == NO_NODE)
    return NO_NODE;
  Node key = {.op = OP_SCATTER, .nargs = 2, .shape = to, .arg = {t, idx, NO_NODE}};
  key.v.idx = axis;
  return intern(g, &key);
}

NodeId dag_linscan(Dag *g, NodeId a, NodeId b, int axis, int reversed) {
  if (a == NO_NODE || b == NO_NODE || g->oom)
    return NO_NODE;
  ShapeId s;
  if (shape_broadcast(g, dag_shape(g, a), dag_shape(g, b), &s) < 0)
    return shape_err(g, "internal: linscan of", a, b);
  if (axis < 0 || axis >= shape_rank(g, s))
    return shape_err(g, "internal: linscan axis out of range for", a, NO_NODE);
  if (is_num(g, b, 0)) /* h = 0 throughout */
    return dag_bcast(g, dag_const(g, 0), s);
  if (is_num(g, a, 0)) /* h = b */
    return dag_bcast(g, b, s);
  a = dag_bcast(g, a, s);
  b = dag_bcast(g, b, s);
  if (a == NO_NODE || b == NO_NODE)
    return NO_NODE;
  Node key = {.op = OP_LINSCAN, .nargs = 2, .shape = s, .arg = {a, b, NO_NODE}};
  key.v.idx = 2 * (int64_t)axis + (reversed != 0);
  return intern(g, &key);
}

/* numpy.cumprod along axis (>= 0): h_i = x_i h_(i-1) from h_0 = x_0, the
 * LINSCAN of a = x with its first entry (along axis, from the end when
 * reversed) 0 and b = that first entry, 0 elsewhere: no entry of x is
 * multiplied by the h_(-1) = 0 that starts the scan, so an infinite or NaN
 * x_0 gives what the naive running product gives; b is -0 elsewhere, so
 * that -0 products stay -0. */
NodeId dag_cumprod(Dag *g, NodeId x, int axis, int reversed) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  const Shape *s = shape_get(g, dag_shape(g, x));
  if (axis < 0 || axis >= s->rank)
    return shape_err(g, "internal: cumprod axis out of range for", x, NO_NODE);
  int64_t n = s->dim[axis];
  if (n == 1)
    return x;
  SliceSpec first = {0}, rest;
  first.rank = s->rank;
  for (int k = 0; k < s->rank; k++)
    first.full[k] = first.len[k] = s->dim[k];
  rest = first;
  first.len[axis] = 1;
  if (reversed && n < 0) {
    first.start[axis] = -1;
    first.from_end = 1u << axis;
  } else {
    first.start[axis] = reversed ? n - 1 : 0;
  }
  rest.len[axis] = n < 0 ? dim_derive(g, n, -1, 1) : n - 1;
  if (rest.len[axis] == DIM_FAIL)
    return NO_NODE;
  rest.start[axis] = reversed ? 0 : 1;
  NodeId a = dag_pad(g, dag_slice(g, x, &rest), &rest);
  first.negzero = 1; /* a_i h_(i-1) + -0 keeps the sign of a zero product */
  NodeId b = dag_pad(g, dag_slice(g, x, &first), &first);
  return dag_linscan(g, a, b, axis, reversed);
}

NodeId dag_iota(Dag *g, int64_t n) {
  if (g->oom)
    return NO_NODE;
  Shape r = {.rank = 1};
  r.dim[0] = n;
  Node key = {.op = OP_IOTA, .shape = shape_intern(g, &r), .arg = {NO_NODE, NO_NODE, NO_NODE}};
  return intern(g, &key);
}

NodeId dag_sum(Dag *g, NodeId x, int axis) { return reduce(g, OP_SUM, x, axis); }
NodeId dag_maxr(Dag *g, NodeId x, int axis) { return reduce(g, OP_MAXR, x, axis); }
NodeId dag_argmax(Dag *g, NodeId x, int axis) { return reduce(g, OP_ARGMAX, x, axis); }

NodeId dag_matmul(Dag *g, NodeId a, NodeId b, int flags) {
  if (a == NO_NODE || b == NO_NODE || g->oom)
    return NO_NODE;
  /* A' @ B reads A transposed in place instead of copying it */
  if (g->nodes[a].op == OP_TRANSPOSE && shape_rank(g, dag_shape(g, a)) == 2) {
    a = g->nodes[a].arg[0];
    flags ^= 1;
  }
  if (g->nodes[b].op == OP_TRANSPOSE && shape_rank(g, dag_shape(g, b)) == 2) {
    b = g->nodes[b].arg[0];
    flags ^= 2;
  }
  const Shape *x = shape_get(g, dag_shape(g, a)), *y = shape_get(g, dag_shape(g, b));
  if (x->rank < 1 || x->rank > 2 || y->rank < 1 || y->rank > 2)
    return shape_err(g, "needs vectors or matrices, not", a, b);
  if (x->rank == 1)
    flags &= ~1;
  if (y->rank == 1)
    flags &= ~2;
  int64_t m = 0, k1, k2, n = 0;
  if (x->rank == 2) {
    m = flags & 1 ? x->dim[1] : x->dim[0];
    k1 = flags & 1 ? x->dim[0] : x->dim[1];
  } else {
    k1 = x->dim[0];
  }
  if (y->rank == 2) {
    k2 = flags & 2 ? y->dim[1] : y->dim[0];
    n = flags & 2 ? y->dim[0] : y->dim[1];
  } else {
    k2 = y->dim[0];
  }
  if (k1 != k2 && !dims_may_equal(g, k1, k2)) /* two symbolic ones: checked at call time */
    return shape_err(g, "inner dimensions differ for", a, b);
  Shape r = {0};
  if (x->rank == 2)
    r.dim[r.rank++] = m;
  if (y->rank == 2)
    r.dim[r.rank++] = n;
  ShapeId out = shape_intern(g, &r);
  /* a zero factor: zero, unless the other may hold an inf or NaN that
   * IEEE arithmetic would spread (strong products ignore it) */
  NodeId fa = fill_of(g, a), fb = fill_of(g, b);
  int strong = (flags & MM_STRONG) != 0;
  if ((is_num(g, a, 0) && (strong || (fb != NO_NODE && dag_is_const(g, fb) && isfinite(dag_num(g, fb))))) ||
      (is_num(g, b, 0) && (strong || (fa != NO_NODE && dag_is_const(g, fa) && isfinite(dag_num(g, fa))))))
    return dag_bcast(g, dag_const(g, 0), out);
  Node key = {.op = OP_MATMUL, .nargs = 2, .shape = out, .arg = {a, b, NO_NODE}};
  key.v.idx = flags;
  return intern(g, &key);
}

NodeId dag_transpose(Dag *g, NodeId x) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  const Shape *s = shape_get(g, dag_shape(g, x));
  if (s->rank < 2)
    return x;
  if (g->nodes[x].op == OP_TRANSPOSE)
    return g->nodes[x].arg[0];
  Shape r = {0};
  r.rank = s->rank;
  for (int i = 0; i < s->rank; i++)
    r.dim[i] = s->dim[s->rank - 1 - i];
  ShapeId out = shape_intern(g, &r);
  NodeId f = fill_of(g, x);
  if (f != NO_NODE)
    return dag_bcast(g, f, out);
  return node1(g, OP_TRANSPOSE, x, out, 0);
}

/* The canonical form of a spec: zero beyond the rank, step 1 as 0. */
static void slice_norm(SliceSpec *c, const SliceSpec *sp) {
  memset(c, 0, sizeof *c);
  c->rank = sp->rank;
  c->drop = sp->drop;
  c->from_end = sp->from_end;
  c->negzero = sp->negzero;
  for (int i = 0; i < sp->rank; i++) {
    c->full[i] = sp->full[i];
    c->start[i] = sp->start[i];
    c->off[i] = sp->off[i];
    c->len[i] = sp->len[i];
    c->step[i] = sp->step[i] == 1 ? 0 : sp->step[i];
    c->need[i] = sp->need[i];
    c->shown[i] = sp->shown[i];
  }
}

static int64_t slice_spec(Dag *g, const SliceSpec *sp) {
  SliceSpec c;
  slice_norm(&c, sp);
  for (uint32_t i = 0; i < g->nslice; i++)
    if (!memcmp(&g->slices[i], &c, sizeof c))
      return i;
  if (g->nslice == g->capslice) {
    uint32_t cap = g->capslice ? 2 * g->capslice : 16;
    SliceSpec *n = realloc(g->slices, cap * sizeof *n);
    if (!n) {
      g->oom = 1;
      return -1;
    }
    g->slices = n;
    g->capslice = cap;
  }
  g->slices[g->nslice] = c;
  return g->nslice++;
}

static ShapeId slice_shape(Dag *g, const SliceSpec *sp) {
  Shape r = {0};
  for (int i = 0; i < sp->rank; i++)
    if (!(sp->drop >> i & 1))
      r.dim[r.rank++] = sp->len[i];
  return shape_intern(g, &r);
}

NodeId dag_slice(Dag *g, NodeId x, const SliceSpec *sp) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  SliceSpec c;
  slice_norm(&c, sp);
  int whole = c.drop == 0;
  const Shape *s = shape_get(g, dag_shape(g, x));
  for (int i = 0; i < c.rank; i++)
    whole &= c.start[i] == 0 && c.off[i] == 0 && !(c.from_end >> i & 1) && c.step[i] == 0 && c.len[i] == s->dim[i] &&
             c.need[i] == 0;
  if (whole)
    return x;
  ShapeId out = slice_shape(g, &c);
  NodeId f = fill_of(g, x);
  int checked = 0;
  for (int i = 0; i < c.rank; i++)
    checked |= c.need[i] > 0;
  if (f != NO_NODE && !checked) /* a checked index keeps its node: the check */
    return dag_bcast(g, f, out);
  int64_t k = slice_spec(g, &c);
  return k < 0 ? NO_NODE : node1(g, OP_SLICE, x, out, k);
}

NodeId dag_pad(Dag *g, NodeId x, const SliceSpec *sp) {
  if (x == NO_NODE || g->oom)
    return NO_NODE;
  Shape full = {0};
  full.rank = sp->rank;
  for (int i = 0; i < sp->rank; i++)
    full.dim[i] = sp->full[i];
  ShapeId out = shape_intern(g, &full);
  if (slice_shape(g, sp) != dag_shape(g, x))
    return shape_err(g, "internal: pad of the wrong shape", x, NO_NODE);
  if (is_num(g, x, 0) && !sp->negzero)
    return dag_bcast(g, x, out);
  int64_t k = slice_spec(g, sp);
  return k < 0 ? NO_NODE : node1(g, OP_PAD, x, out, k);
}

NodeId dag_scatter_add(Dag *g, NodeId acc, NodeId piece, const SliceSpec *sp) {
  if (acc == NO_NODE || piece == NO_NODE || g->oom)
    return NO_NODE;
  NodeId p = dag_pad(g, piece, sp);
  if (p == NO_NODE || g->nodes[p].op != OP_PAD || dag_shape(g, acc) != dag_shape(g, p) ||
      fill_of(g, acc) != NO_NODE) /* a zero piece, or an accumulator that is a fill */
    return dag_add(g, acc, p);
  Node key = {.op = OP_SCATTER_ADD, .nargs = 2, .shape = dag_shape(g, acc), .arg = {acc, piece, NO_NODE}};
  key.v.idx = g->nodes[p].v.idx;
  return intern(g, &key);
}

int dag_node_checks(const Dag *g, NodeId n, DimCheck *out) {
  const Node *nd = &g->nodes[n];
  int k = 0;
  if (nd->op == OP_SLICE || nd->op == OP_PAD || nd->op == OP_SCATTER_ADD) {
    const SliceSpec *sp = &g->slices[nd->v.idx];
    for (int i = 0; i < sp->rank; i++)
      if (sp->need[i] > 0)
        out[k++] = (DimCheck){1, sp->full[i], sp->need[i], sp->shown[i], (int)(sp->drop >> i & 1)};
    return k;
  }
  if (nd->op == OP_MATMUL) {
    const Shape *x = shape_get(g, dag_shape(g, nd->arg[0])), *y = shape_get(g, dag_shape(g, nd->arg[1]));
    int f = (int)nd->v.idx;
    int64_t k1 = x->rank == 2 ? x->dim[f & 1 ? 0 : 1] : x->dim[0];
    int64_t k2 = y->rank == 2 ? y->dim[f & 2 ? 1 : 0] : y->dim[0];
    if (k1 != k2)
      out[k++] = (DimCheck){0, k1, k2, 0, 0};
    return k;
  }
  if (!(OP_IS_ELEMWISE(nd->op) || nd->op == OP_BCAST) || nd->shape == SHAPE_SCALAR)
    return 0;
  const Shape *o = shape_get(g, nd->shape);
  for (int a = 0; a < nd->nargs; a++) {
    const Shape *x = shape_get(g, dag_shape(g, nd->arg[a]));
    for (int i = 0; i < x->rank; i++) {
      int64_t dx = x->dim[i], dn = o->dim[o->rank - x->rank + i];
      if (dx == dn || dx >= 0 || dn >= 0)
        continue;
      int seen = 0;
      for (int j = 0; j < k && !seen; j++)
        seen = !out[j].ge && out[j].a == dx && out[j].b == dn;
      if (!seen)
        out[k++] = (DimCheck){0, dx, dn, 0, 0};
    }
  }
  return k;
}

NodeId dag_onehot(Dag *g, NodeId labels, int k) {
  if (labels == NO_NODE || g->oom)
    return NO_NODE;
  Shape r = *shape_get(g, dag_shape(g, labels));
  if (r.rank >= MAX_RANK)
    return shape_err(g, "onehot() of a tensor of rank 4 would exceed rank 4:", labels, NO_NODE);
  r.dim[r.rank++] = k;
  return node1(g, OP_ONEHOT, labels, shape_intern(g, &r), k);
}

NodeId dag_dim(Dag *g, int symbol) {
  Node key = {.op = OP_DIM, .arg = {NO_NODE, NO_NODE, NO_NODE}};
  key.v.idx = symbol;
  return intern(g, &key);
}

NodeId dag_dim_size(Dag *g, ShapeId s, int axis) {
  const Shape *x = shape_get(g, s);
  if (axis < 0) {
    NodeId n = dag_const(g, 1);
    for (int i = 0; i < x->rank; i++)
      n = dag_mul(g, n, dag_dim_size(g, s, i));
    return n;
  }
  int64_t d = x->dim[axis];
  return d < 0 ? dag_dim(g, (int)~d) : dag_const(g, (double)d);
}

NodeId dag_add(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_ADD, a, b, NO_NODE); }
NodeId dag_sub(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_SUB, a, b, NO_NODE); }
NodeId dag_mul(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_MUL, a, b, NO_NODE); }
NodeId dag_div(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_DIV, a, b, NO_NODE); }
NodeId dag_neg(Dag *g, NodeId a) { return dag_op(g, OP_NEG, a, NO_NODE, NO_NODE); }
NodeId dag_pow(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_POW, a, b, NO_NODE); }
NodeId dag_smul(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_SMUL, a, b, NO_NODE); }
NodeId dag_un(Dag *g, OpKind op, NodeId a) { return dag_op(g, op, a, NO_NODE, NO_NODE); }
NodeId dag_bin(Dag *g, OpKind op, NodeId a, NodeId b) { return dag_op(g, op, a, b, NO_NODE); }

int dag_check(const Dag *g) {
  for (NodeId i = 0; i < g->count; i++) {
    const Node *n = &g->nodes[i];
    if (n->op >= OP_COUNT || n->nargs != op_info[n->op].nargs)
      return 1;
    for (int k = 0; k < n->nargs; k++)
      if (n->arg[k] >= i)
        return 2; /* children must be older than parents */
    NodeId found;
    slot_of(g, n, hash(n), &found);
    if (found != i)
      return 3; /* hash-cons table out of step */
    if (n->shape >= g->nshape)
      return 4;
  }
  return 0;
}
