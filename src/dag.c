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
GRADC_RT_SOFTPLUS
GRADC_RT_MAX
GRADC_RT_MIN

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
  g->bucket = malloc(g->nbucket * sizeof *g->bucket);
  g->shapes = calloc(16, sizeof *g->shapes);
  if (!g->bucket || !g->shapes) {
    dag_free(g);
    return NULL;
  }
  memset(g->bucket, 0xff, g->nbucket * sizeof *g->bucket);
  g->capshape = 16;
  g->nshape = 1; /* shape 0: the scalar */
  return g;
}

void dag_free(Dag *g) {
  if (!g)
    return;
  free(g->nodes);
  free(g->bucket);
  free(g->shapes);
  free(g);
}


static uint64_t mix(uint64_t z) { /* splitmix64's finaliser */
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint32_t hash(const Node *n) {
  uint64_t h = mix(n->op | (uint64_t)n->nargs << 8 | (uint64_t)n->shape << 16);
  h = mix(h ^ ((uint64_t)n->arg[0] << 32 | n->arg[1]));
  h = mix(h ^ n->arg[2] ^ ((uint64_t)n->v.idx * 0x9e3779b97f4a7c15ull));
  return (uint32_t)h;
}

static int same(const Node *a, const Node *b) {
  return a->op == b->op && a->nargs == b->nargs && a->shape == b->shape &&
         a->arg[0] == b->arg[0] && a->arg[1] == b->arg[1] &&
         a->arg[2] == b->arg[2] && a->v.idx == b->v.idx;
}

static NodeId find(const Dag *g, const Node *key) {
  uint32_t h = hash(key) & (g->nbucket - 1);
  for (NodeId i = g->bucket[h]; i != NO_NODE; i = g->nodes[i].hnext)
    if (same(&g->nodes[i], key))
      return i;
  return NO_NODE;
}

static int rehash(Dag *g) {
  uint32_t nb = g->nbucket * 2;
  uint32_t *b = malloc((size_t)nb * sizeof *b);
  if (!b)
    return 0;
  memset(b, 0xff, (size_t)nb * sizeof *b);
  for (NodeId i = 0; i < g->count; i++) {
    uint32_t h = hash(&g->nodes[i]) & (nb - 1);
    g->nodes[i].hnext = b[h];
    b[h] = i;
  }
  free(g->bucket);
  g->bucket = b;
  g->nbucket = nb;
  return 1;
}

/* Find the node, or append it. */
static NodeId intern(Dag *g, Node *key) {
  if (g->oom)
    return NO_NODE;
  NodeId found = find(g, key);
  if (found != NO_NODE)
    return found;
  uint32_t limit = g->max_nodes ? g->max_nodes : DEFAULT_MAX_NODES;
  if (g->count >= limit) {
    g->oom = 2;
    return NO_NODE;
  }
  if (g->count == g->cap) {
    uint32_t cap = g->cap ? g->cap * 2 : 1024;
    Node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) {
      g->oom = 1;
      return NO_NODE;
    }
    g->nodes = nodes;
    g->cap = cap;
  }
  if (g->count >= g->nbucket && !rehash(g)) {
    g->oom = 1;
    return NO_NODE;
  }
  NodeId id = g->count++;
  Node *n = &g->nodes[id];
  *n = *key;
  uint32_t h = hash(n) & (g->nbucket - 1);
  n->hnext = g->bucket[h];
  g->bucket[h] = id;
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
  case OP_TANH: return tanh(x[0]);
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
  case OP_CONST: case OP_VAR: case OP_COUNT: break;
  }
  return NAN;
}

static int is_num(const Dag *g, NodeId n, double v) {
  return dag_is_const(g, n) && dag_num(g, n) == v;
}

static int commutative(OpKind op) {
  return op == OP_ADD || op == OP_MUL || op == OP_MAX || op == OP_MIN ||
         op == OP_EQ || op == OP_NE;
}

/* Safe identities, applied before hash-consing. Returns the simpler node,
 * or NO_NODE when none applies. */
static NodeId identity(Dag *g, OpKind op, NodeId a, NodeId b, NodeId c) {
  const Node *na = &g->nodes[a];
  switch (op) {
  case OP_ADD: /* a + -b is exactly a - b */
    if (is_num(g, a, 0)) return b;
    if (is_num(g, b, 0)) return a;
    if (g->nodes[b].op == OP_NEG) return dag_sub(g, a, g->nodes[b].arg[0]);
    if (na->op == OP_NEG) return dag_sub(g, b, na->arg[0]);
    break;
  case OP_SUB:
    if (is_num(g, b, 0)) return a;
    if (is_num(g, a, 0)) return dag_neg(g, b);
    if (a == b) return dag_const(g, 0);
    if (g->nodes[b].op == OP_NEG) return dag_add(g, a, g->nodes[b].arg[0]);
    /* exp(x) - 1 -> expm1(x) (SPEC 1.5 stable forms) */
    if (na->op == OP_EXP && is_num(g, b, 1)) return dag_un(g, OP_EXPM1, na->arg[0]);
    break;
  case OP_MUL:
    if (is_num(g, a, 1)) return b;
    if (is_num(g, b, 1)) return a;
    if (is_num(g, a, 0) || is_num(g, b, 0)) return dag_const(g, 0);
    if (is_num(g, a, -1)) return dag_neg(g, b);
    if (is_num(g, b, -1)) return dag_neg(g, a);
    break;
  case OP_DIV:
    if (is_num(g, b, 1)) return a;
    if (is_num(g, b, -1)) return dag_neg(g, a);
    if (is_num(g, a, 0)) return dag_const(g, 0);
    break;
  case OP_NEG:
    if (na->op == OP_NEG) return na->arg[0];
    break;
  case OP_POW:
    if (is_num(g, b, 1)) return a;
    if (is_num(g, b, 0) || is_num(g, a, 1)) return dag_const(g, 1);
    break;
  case OP_LOG:
    /* log(1 + x) -> log1p(x); log(sigmoid(x)) -> -softplus(-x) */
    if (na->op == OP_ADD && is_num(g, na->arg[0], 1))
      return dag_un(g, OP_LOG1P, na->arg[1]);
    if (na->op == OP_ADD && is_num(g, na->arg[1], 1))
      return dag_un(g, OP_LOG1P, na->arg[0]);
    if (na->op == OP_SIGMOID)
      return dag_neg(g, dag_un(g, OP_SOFTPLUS, dag_neg(g, na->arg[0])));
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
  double x[3];
  for (int i = 0; i < nargs; i++) {
    allconst &= dag_is_const(g, args[i]);
    x[i] = g->nodes[args[i]].v.num;
  }
  if (allconst) {
    double r = dag_eval_op(op, x);
    if (isfinite(r))
      return dag_const(g, r);
  }
  NodeId s = identity(g, op, args[0], args[1], args[2]);
  if (s != NO_NODE || g->oom)
    return s;
  Node key = {.op = (uint8_t)op, .nargs = (uint8_t)nargs,
              .arg = {args[0], args[1], args[2]}};
  key.shape = SHAPE_SCALAR;
  if (commutative(op)) {
    Node swapped = key;
    swapped.arg[0] = args[1];
    swapped.arg[1] = args[0];
    NodeId found = find(g, &swapped);
    if (found != NO_NODE)
      return found;
  }
  return intern(g, &key);
}

NodeId dag_add(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_ADD, a, b, NO_NODE); }
NodeId dag_sub(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_SUB, a, b, NO_NODE); }
NodeId dag_mul(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_MUL, a, b, NO_NODE); }
NodeId dag_div(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_DIV, a, b, NO_NODE); }
NodeId dag_neg(Dag *g, NodeId a) { return dag_op(g, OP_NEG, a, NO_NODE, NO_NODE); }
NodeId dag_pow(Dag *g, NodeId a, NodeId b) { return dag_op(g, OP_POW, a, b, NO_NODE); }
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
    if (find(g, n) != i)
      return 3; /* hash-cons table out of step */
    if (n->shape >= g->nshape)
      return 4;
  }
  return 0;
}
