/* diff_text.c: derivatives as readable expressions in the language, for the
 * REPL's :diff and `gradc diff` (SPEC 2.4).
 *
 * The adjoint that ad_reverse builds is good code but poor reading: seeds
 * times partials (0.5*(2*(w*x - y))*x), guards of the stable forms
 * (where(max(Z) - max(Z) == 0, ...)), broadcasts and reshapes that the
 * language writes with numpy's rules or not at all. So the adjoint is
 * copied into terms of a small computer algebra, in the manner of SymPy's
 * automatic canonicalisation: a sum is a set of terms with numeric
 * coefficients (like terms collected), a product a set of factors with
 * exponents (powers folded), numbers multiplied out and 1* and +0
 * dropped; x - x is 0 and x/x is 1 (a display may assume finite values,
 * as SymPy does). Structural operators keep their DAG meaning (payloads,
 * shapes) and are printed in the language: broadcasting where numpy's rules
 * say the same, x[:, None] for a new axis, keepdims=true, transposes as A',
 * the adjoint of an index or slice as a mask or a 0/1 selection matrix,
 * running products (LINSCAN: prod's partials, cumprod) as cumprod() of a
 * concat and other first-order recurrences as linscan().
 * Terms used twice become `let` lines (SymPy's cse). Every term knows its
 * shape, so whatever is printed reads back as the same tensor.
 *
 * Terms are hash-consed and only appended, children before parents, so a
 * term's id is a topological order: the passes below are loops, and the
 * printer's recursion is bounded by turning deep terms into lets. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

enum { T_NUM, T_SYM, T_ADD, T_MUL, T_POW, T_OP, T_LIST };
/* display-only operators beyond the DAG's: TX_CUMPROD (idx 2*axis +
 * reversed, as CUMSUM) and TX_CONCAT of two pieces (idx the axis) write
 * the LINSCANs that are running products (scan_term) */
enum { TX_SOFTMAX = OP_COUNT, TX_LOGSUMEXP, TX_CUMPROD, TX_CONCAT };

typedef uint32_t Tid;
#define NO_TERM ((Tid)UINT32_MAX)

typedef struct Term {
  uint8_t kind;
  uint16_t op;        /* T_OP: an OpKind or TX_ */
  uint32_t nargs, args; /* into S.pool */
  ShapeId shape;
  double num;         /* T_NUM */
  int64_t idx;        /* T_OP: the DAG payload; T_SYM: index into S.names */
  uint64_t h;         /* structural hash: canonical order of arguments */
  int deg;            /* polynomial degree, for the order of a sum's terms */
} Term;

typedef struct S {
  Dag *d;
  const Program *prog;
  Term *t;
  uint32_t n, cap;
  Tid *pool;
  size_t npool, cappool;
  uint32_t *bucket;   /* 1 + id, 0 empty */
  uint32_t nbucket;
  const char **names;
  int nnames, capnames;
  int oom, fail;      /* fail: a term the language cannot write */
  char why[160];
} S;

static const Term *T(const S *s, Tid t) { return &s->t[t]; }
static Tid A(const S *s, Tid t, uint32_t i) { return s->pool[s->t[t].args + i]; }

/* ---- interning ------------------------------------------------------------------ */

static uint64_t mix(uint64_t h, uint64_t v) { /* MurmurHash3's finaliser on the combination */
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

static uint64_t str_hash(const char *x) {
  uint64_t h = 1469598103934665603ull;
  for (; *x; x++)
    h = (h ^ (unsigned char)*x) * 1099511628211ull;
  return h;
}

static int same(const S *s, const Term *a, Tid b, const Tid *args) {
  const Term *x = T(s, b);
  if (x->kind != a->kind || x->op != a->op || x->shape != a->shape || x->nargs != a->nargs ||
      x->idx != a->idx || memcmp(&x->num, &a->num, sizeof a->num))
    return 0;
  for (uint32_t i = 0; i < a->nargs; i++)
    if (s->pool[x->args + i] != args[i])
      return 0;
  return 1;
}

static int grow(S *s) {
  if (s->n + 1 > s->cap) {
    uint32_t cap = s->cap ? 2 * s->cap : 1024;
    Term *t = realloc(s->t, (size_t)cap * sizeof *t);
    if (!t)
      return 0;
    s->t = t;
    s->cap = cap;
  }
  if (2 * (s->n + 1) > s->nbucket) {
    uint32_t nb = s->nbucket ? 2 * s->nbucket : 4096;
    uint32_t *b = calloc(nb, sizeof *b);
    if (!b)
      return 0;
    for (uint32_t i = 0; i < s->n; i++) {
      uint32_t j = (uint32_t)s->t[i].h & (nb - 1);
      while (b[j])
        j = (j + 1) & (nb - 1);
      b[j] = i + 1;
    }
    free(s->bucket);
    s->bucket = b;
    s->nbucket = nb;
  }
  return 1;
}

/* The term, found or appended. */
static Tid mk(S *s, int kind, int op, ShapeId shape, double num, int64_t idx, const Tid *args,
              uint32_t nargs) {
  if (s->oom)
    return NO_TERM;
  for (uint32_t i = 0; i < nargs; i++)
    if (args[i] == NO_TERM)
      return NO_TERM;
  Term key = {.kind = (uint8_t)kind, .op = (uint16_t)op, .nargs = nargs, .shape = shape, .num = num, .idx = idx};
  uint64_t h = mix(mix(mix((uint64_t)kind, (uint64_t)op), (uint64_t)shape), (uint64_t)idx);
  uint64_t bits;
  memcpy(&bits, &num, sizeof bits);
  h = mix(h, kind == T_NUM ? bits : 0);
  if (kind == T_SYM)
    h = mix(h, str_hash(s->names[idx]));
  for (uint32_t i = 0; i < nargs; i++)
    h = mix(h, T(s, args[i])->h);
  key.h = h;
  if (!grow(s)) {
    s->oom = 1;
    return NO_TERM;
  }
  uint32_t j = (uint32_t)h & (s->nbucket - 1);
  for (; s->bucket[j]; j = (j + 1) & (s->nbucket - 1))
    if (s->t[s->bucket[j] - 1].h == h && same(s, &key, s->bucket[j] - 1, args))
      return s->bucket[j] - 1;
  if (s->npool + nargs > s->cappool) {
    size_t cap = 2 * (s->npool + nargs) + 1024;
    Tid *p = realloc(s->pool, cap * sizeof *p);
    if (!p) {
      s->oom = 1;
      return NO_TERM;
    }
    s->pool = p;
    s->cappool = cap;
  }
  key.args = (uint32_t)s->npool;
  if (nargs)
    memcpy(s->pool + s->npool, args, nargs * sizeof *args);
  s->npool += nargs;
  /* degree: symbols 1, numbers 0, products add, powers multiply, sums take
   * the largest; functions count as symbols */
  int deg = 0;
  if (kind == T_SYM || kind == T_OP || kind == T_LIST)
    deg = 1;
  for (uint32_t i = 0; i < nargs && (kind == T_ADD || kind == T_MUL); i++) {
    int dg = s->t[args[i]].deg;
    deg = kind == T_MUL ? deg + dg : (dg > deg ? dg : deg);
  }
  if (kind == T_POW) {
    const Term *e = T(s, args[1]);
    deg = e->kind == T_NUM ? (e->num > 0 ? (int)(T(s, args[0])->deg * e->num) : 0) : T(s, args[0])->deg;
  }
  key.deg = deg;
  Tid id = s->n++;
  s->t[id] = key;
  s->bucket[j] = id + 1;
  return id;
}

static Tid num(S *s, double x) { return mk(s, T_NUM, 0, SHAPE_SCALAR, x + 0.0, 0, NULL, 0); }

static Tid sym(S *s, const char *name, ShapeId shape) {
  int k = 0;
  while (k < s->nnames && strcmp(s->names[k], name))
    k++;
  if (k == s->nnames) {
    if (s->nnames == s->capnames) {
      s->capnames = 2 * s->capnames + 16;
      const char **n = realloc(s->names, (size_t)s->capnames * sizeof *n);
      if (!n) {
        s->oom = 1;
        return NO_TERM;
      }
      s->names = n;
    }
    s->names[s->nnames++] = name;
  }
  return mk(s, T_SYM, 0, shape, 0, k, NULL, 0);
}

static int is_num(const S *s, Tid t, double *v) {
  const Term *x = T(s, t);
  if (x->kind == T_OP && x->op == OP_BCAST)
    x = T(s, A(s, t, 0));
  if (x->kind != T_NUM)
    return 0;
  if (v)
    *v = x->num;
  return 1;
}

static int is_value(const S *s, Tid t, double v) {
  double x;
  return is_num(s, t, &x) && x == v;
}

static int is_op(const S *s, Tid t, int op) { return T(s, t)->kind == T_OP && T(s, t)->op == op; }

static const Shape *shp(const S *s, ShapeId x) { return shape_get(s->d, x); }

/* ---- structural constructors --------------------------------------------------------- */

static Tid op_term(S *s, int op, ShapeId shape, int64_t idx, const Tid *args, uint32_t n) {
  return mk(s, T_OP, op, shape, 0, idx, args, n);
}

/* numpy broadcast_to: the same values, more of them */
static Tid bcast(S *s, Tid x, ShapeId to) {
  if (x == NO_TERM || T(s, x)->shape == to)
    return x;
  if (is_op(s, x, OP_BCAST))
    x = A(s, x, 0);
  if (T(s, x)->shape == to)
    return x;
  return op_term(s, OP_BCAST, to, 0, &x, 1);
}

static Tid zero(S *s, ShapeId shape) { return bcast(s, num(s, 0), shape); }

/* The scalar that x is filled with (x itself if it is a scalar), or NO_TERM. */
static Tid fill_of(const S *s, Tid x) {
  if (is_op(s, x, OP_BCAST))
    x = A(s, x, 0);
  return T(s, x)->shape == SHAPE_SCALAR ? x : NO_TERM;
}

/* A reshape that only adds or removes leading axes of size 1 changes
 * nothing under numpy's broadcasting (trailing dimensions align). */
static int leading_ones_only(const S *s, ShapeId a, ShapeId b) {
  const Shape *x = shp(s, a), *y = shp(s, b);
  int i = 0, j = 0;
  while (i < x->rank && x->dim[i] == 1 && x->rank - i > y->rank - j)
    i++;
  while (j < y->rank && y->dim[j] == 1 && y->rank - j > x->rank - i)
    j++;
  if (x->rank - i != y->rank - j)
    return 0;
  for (; i < x->rank; i++, j++)
    if (x->dim[i] != y->dim[j])
      return 0;
  return 1;
}

/* The scalar factors of a product of tensors and the rest: (2*x/N)[0] is
 * 2/N times x[0]. *k gets the scalar part, NO_TERM when there is none. */
static Tid mul(S *s, const Tid *args, uint32_t n);

static Tid pull_scalars(S *s, Tid x, Tid *k) {
  *k = NO_TERM;
  if (x == NO_TERM || T(s, x)->kind != T_MUL || T(s, x)->shape == SHAPE_SCALAR)
    return x;
  uint32_t n = T(s, x)->nargs, ns = 0, nr = 0;
  Tid *sc = malloc(2 * n * sizeof *sc); /* mk and mul may move the pool */
  if (!sc) {
    s->oom = 1;
    return NO_TERM;
  }
  Tid *rest = sc + n;
  for (uint32_t i = 0; i < n; i++) {
    Tid f = A(s, x, i);
    if (T(s, f)->shape == SHAPE_SCALAR)
      sc[ns++] = f;
    else
      rest[nr++] = f;
  }
  Tid r = x;
  if (ns) {
    *k = mul(s, sc, ns);
    r = mul(s, rest, nr);
  }
  free(sc);
  return r;
}

static Tid mul2(S *s, Tid a, Tid b);
static Tid num(S *s, double x);

static Tid reshape(S *s, Tid x, ShapeId to) {
  if (x == NO_TERM || T(s, x)->shape == to)
    return x;
  Tid k, rest = pull_scalars(s, x, &k);
  if (k != NO_TERM) /* reshape(c*x) = c*reshape(x) */
    return mul2(s, k, reshape(s, rest, to));
  if (is_op(s, x, OP_RESHAPE))
    x = A(s, x, 0);
  if (T(s, x)->shape == to)
    return x;
  Tid f = fill_of(s, x);
  if (f != NO_TERM) /* a fill: the same in any shape */
    return bcast(s, f, to);
  return op_term(s, OP_RESHAPE, to, 0, &x, 1);
}

/* The argument of an elementwise operator without a broadcast or a
 * reshape that the operator's own broadcasting makes unnecessary. */
static Tid unwrap(const S *s, Tid x) {
  if (is_op(s, x, OP_BCAST))
    return A(s, x, 0);
  if (is_op(s, x, OP_RESHAPE) && leading_ones_only(s, T(s, x)->shape, T(s, A(s, x, 0))->shape))
    return A(s, x, 0);
  return x;
}

/* The broadcast shape of args (SHAPE_SCALAR for none); -1 if they do not. */
static int bshape(S *s, const Tid *args, uint32_t n, ShapeId *out) {
  ShapeId r = SHAPE_SCALAR;
  for (uint32_t i = 0; i < n; i++)
    if (shape_broadcast(s->d, r, T(s, args[i])->shape, &r) < 0)
      return -1;
  *out = r;
  return 0;
}

/* Drop the broadcasts (and reshapes that add leading axes) of elementwise
 * arguments: op(broadcast_to(a, S), b) is broadcast_to(op(a, b), S), so
 * the broadcast moves out, to where an operator needs it (the result is
 * broadcast to `want`). */
static void unwrap_args(S *s, Tid *args, uint32_t n, ShapeId want) {
  (void)want;
  for (uint32_t i = 0; i < n; i++)
    args[i] = unwrap(s, args[i]);
}

/* ---- canonical order ----------------------------------------------------------------------- */

/* Factors of a product: numbers, symbols (by name), powers (by base),
 * functions, sums last: 2*x*y^2*sin(x)*(w*x - y). */
static int cls(const S *s, Tid t) {
  switch (T(s, t)->kind) {
  case T_NUM: return 0;
  case T_SYM: return 1;
  case T_OP: case T_LIST: return 3;
  case T_MUL: return 4;
  case T_ADD: return 5;
  default: return 2;
  }
}

static int cmp_factor(const S *s, Tid a, Tid b) {
  Tid ba = T(s, a)->kind == T_POW ? A(s, a, 0) : a, bb = T(s, b)->kind == T_POW ? A(s, b, 0) : b;
  int ca = cls(s, ba), cb = cls(s, bb);
  if (ca != cb)
    return ca < cb ? -1 : 1;
  if (ca == 1 && ba != bb) {
    int c = strcmp(s->names[T(s, ba)->idx], s->names[T(s, bb)->idx]);
    if (c)
      return c;
  }
  if (ca == 3 && T(s, ba)->op != T(s, bb)->op) /* sin before cos, as SymPy */
    return T(s, ba)->op == OP_SIN ? -1 : T(s, bb)->op == OP_SIN ? 1 : T(s, ba)->op < T(s, bb)->op ? -1 : 1;
  if (T(s, ba)->h != T(s, bb)->h)
    return T(s, ba)->h < T(s, bb)->h ? -1 : 1;
  if (T(s, a)->h != T(s, b)->h)
    return T(s, a)->h < T(s, b)->h ? -1 : 1;
  return a < b ? -1 : a > b;
}

/* The first factor of a term that is not a number. */
static Tid lead(const S *s, Tid t) {
  if (T(s, t)->kind != T_MUL)
    return t;
  for (uint32_t i = 0; i < T(s, t)->nargs; i++)
    if (T(s, A(s, t, i))->kind != T_NUM)
      return A(s, t, i);
  return t;
}

/* Terms of a sum: higher degree first (w*x - y, x^2 - 1), numbers last. */
static int cmp_term(const S *s, Tid a, Tid b) {
  int na = T(s, a)->kind == T_NUM, nb = T(s, b)->kind == T_NUM;
  if (na != nb)
    return na - nb;
  if (T(s, a)->deg != T(s, b)->deg)
    return T(s, a)->deg > T(s, b)->deg ? -1 : 1;
  int c = cmp_factor(s, lead(s, a), lead(s, b));
  if (c)
    return c;
  if (T(s, a)->h != T(s, b)->h)
    return T(s, a)->h < T(s, b)->h ? -1 : 1;
  return a < b ? -1 : a > b;
}

/* A stable merge sort, bottom up (sums may have thousands of terms). */
static void sort(const S *s, Tid *v, uint32_t n, int (*cmp)(const S *, Tid, Tid)) {
  int sorted = 1;
  for (uint32_t i = 1; i < n && sorted; i++)
    sorted = cmp(s, v[i - 1], v[i]) <= 0;
  if (sorted)
    return;
  Tid *tmp = malloc(n * sizeof *tmp);
  if (!tmp)
    return; /* unsorted is still the same sum */
  for (uint32_t w = 1; w < n; w *= 2) {
    for (uint32_t lo = 0; lo < n; lo += 2 * w) {
      uint32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, i = lo, j = mid, k = lo;
      while (i < mid && j < hi)
        tmp[k++] = cmp(s, v[j], v[i]) < 0 ? v[j++] : v[i++];
      while (i < mid)
        tmp[k++] = v[i++];
      while (j < hi)
        tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof *v);
  }
  free(tmp);
}

/* Where each term is in a list: open addressing on term ids. */
typedef struct Index {
  uint32_t *slot; /* 1 + position, 0 empty */
  Tid *key;
  uint32_t cap;
} Index;

static int index_init(S *s, Index *x, uint32_t n) {
  x->cap = 16;
  while (x->cap < 2 * n + 2)
    x->cap *= 2;
  x->slot = calloc(x->cap, sizeof *x->slot);
  x->key = malloc(x->cap * sizeof *x->key);
  if (!x->slot || !x->key) {
    free(x->slot);
    free(x->key);
    s->oom = 1;
    return 0;
  }
  return 1;
}

/* The position stored for t, or (storing pos) pos itself when it is new. */
static uint32_t index_get(Index *x, Tid t, uint32_t pos) {
  uint32_t j = (uint32_t)(t * 2654435761u) & (x->cap - 1);
  for (; x->slot[j]; j = (j + 1) & (x->cap - 1))
    if (x->key[j] == t)
      return x->slot[j] - 1;
  x->slot[j] = pos + 1;
  x->key[j] = t;
  return pos;
}

static void index_free(Index *x) {
  free(x->slot);
  free(x->key);
}

/* ---- algebra ------------------------------------------------------------------------------- */

/* A growing list of terms. */
typedef struct List {
  Tid *v;
  uint32_t n, cap;
} List;

static void push(S *s, List *l, Tid t) {
  if (l->n == l->cap) {
    l->cap = 2 * l->cap + 8;
    Tid *v = realloc(l->v, l->cap * sizeof *v);
    if (!v) {
      s->oom = 1;
      l->n = 0;
      return;
    }
    l->v = v;
  }
  l->v[l->n++] = t;
}

static Tid mul(S *s, const Tid *args, uint32_t n);
static Tid add(S *s, const Tid *args, uint32_t n);

static Tid mul2(S *s, Tid a, Tid b) {
  Tid v[2] = {a, b};
  return mul(s, v, 2);
}

static Tid add2(S *s, Tid a, Tid b) {
  Tid v[2] = {a, b};
  return add(s, v, 2);
}

static Tid neg(S *s, Tid a) { return mul2(s, num(s, -1), a); }

/* A term as coefficient times the rest. */
static Tid split_coef(S *s, Tid t, double *c) {
  *c = 1;
  if (T(s, t)->kind == T_NUM) {
    *c = T(s, t)->num;
    return num(s, 1);
  }
  if (T(s, t)->kind != T_MUL || T(s, A(s, t, 0))->kind != T_NUM)
    return t;
  *c = T(s, A(s, t, 0))->num;
  uint32_t n = T(s, t)->nargs;
  if (n == 2)
    return A(s, t, 1);
  Tid *rest = malloc((n - 1) * sizeof *rest);
  if (!rest) {
    s->oom = 1;
    return NO_TERM;
  }
  for (uint32_t i = 1; i < n; i++)
    rest[i - 1] = A(s, t, i);
  Tid r = mk(s, T_MUL, 0, T(s, t)->shape, 0, 0, rest, n - 1); /* already canonical */
  free(rest);
  return r;
}

static Tid powt(S *s, Tid b, Tid e);

/* A base and its exponent. */
static Tid base_exp(S *s, Tid t, Tid *e) {
  if (T(s, t)->kind == T_POW) {
    *e = A(s, t, 1);
    return A(s, t, 0);
  }
  *e = num(s, 1);
  return t;
}

static Tid softmax_pair(S *s, Tid *f, uint32_t n);

static Tid mul(S *s, const Tid *args_in, uint32_t n_in) {
  if (s->oom)
    return NO_TERM;
  ShapeId shape;
  for (uint32_t i = 0; i < n_in; i++)
    if (args_in[i] == NO_TERM)
      return NO_TERM;
  if (bshape(s, args_in, n_in, &shape) < 0) {
    s->fail = 1;
    return NO_TERM;
  }
  List f = {0};
  for (uint32_t i = 0; i < n_in; i++) { /* flatten (the result is broadcast to shape anyway) */
    Tid a = args_in[i];
    if (is_op(s, a, OP_BCAST) && T(s, A(s, a, 0))->kind == T_MUL)
      a = A(s, a, 0);
    if (T(s, a)->kind == T_MUL)
      for (uint32_t k = 0; k < T(s, a)->nargs; k++)
        push(s, &f, A(s, a, k));
    else
      push(s, &f, a);
  }
  unwrap_args(s, f.v, f.n, shape);
  double c = 1;
  List g = {0};
  for (uint32_t i = 0; i < f.n; i++) {
    if (T(s, f.v[i])->kind == T_NUM) {
      c *= T(s, f.v[i])->num;
      continue;
    }
    if (is_op(s, f.v[i], OP_BCAST) && T(s, A(s, f.v[i], 0))->kind == T_NUM) {
      c *= T(s, A(s, f.v[i], 0))->num;
      continue;
    }
    push(s, &g, f.v[i]);
  }
  free(f.v);
  if (c == 0 || s->oom) { /* a display assumes finite values: 0*x is 0 */
    free(g.v);
    return zero(s, shape);
  }
  /* powers of the same base add up: x*x^2 = x^3, x/x = 1 */
  Index bases;
  if (!index_init(s, &bases, g.n)) {
    free(g.v);
    return NO_TERM;
  }
  for (uint32_t i = 0; i < g.n; i++) {
    Tid ei, bi = base_exp(s, g.v[i], &ei);
    uint32_t at = index_get(&bases, bi, i);
    if (at == i)
      continue;
    Tid ea, ba = base_exp(s, g.v[at], &ea);
    g.v[at] = powt(s, ba, add2(s, ea, ei));
    g.v[i] = NO_TERM;
  }
  index_free(&bases);
  uint32_t m = 0;
  for (uint32_t i = 0; i < g.n; i++) {
    if (g.v[i] == NO_TERM || is_value(s, g.v[i], 1))
      continue;
    if (T(s, g.v[i])->kind == T_NUM) { /* a power of a number folded */
      c *= T(s, g.v[i])->num;
      continue;
    }
    g.v[m++] = g.v[i];
  }
  g.n = m;
  Tid sm = softmax_pair(s, g.v, g.n);
  if (sm != NO_TERM) { /* exp(x - max(x)) / sum(exp(x - max(x))): softmax(x) */
    Tid *rest = malloc((g.n + 1) * sizeof *rest);
    uint32_t r = 0;
    if (!rest) {
      s->oom = 1;
      free(g.v);
      return NO_TERM;
    }
    for (uint32_t i = 0; i < g.n; i++)
      if (g.v[i] != NO_TERM)
        rest[r++] = g.v[i];
    rest[r++] = sm;
    rest[r++] = num(s, c);
    Tid out = mul(s, rest, r);
    free(rest);
    free(g.v);
    return out;
  }
  /* a scalar factor goes into a padded tensor: c*pad(y) = pad(c*y) */
  {
    int pad = -1, scalars = 1;
    for (uint32_t i = 0; i < g.n; i++) {
      if ((is_op(s, g.v[i], OP_PAD) || T(s, g.v[i])->kind == T_LIST) && pad < 0)
        pad = (int)i;
      else if (T(s, g.v[i])->shape != SHAPE_SCALAR)
        scalars = 0;
    }
    if (pad >= 0 && scalars && (g.n > 1 || c != 1)) {
      Tid p = g.v[pad];
      g.v[pad] = num(s, c);
      Tid out;
      if (T(s, p)->kind == T_LIST) {
        uint32_t k = T(s, p)->nargs;
        Tid *el = malloc(k * sizeof *el);
        if (!el) {
          s->oom = 1;
          free(g.v);
          return NO_TERM;
        }
        Tid sc = mul(s, g.v, g.n);
        for (uint32_t j = 0; j < k; j++)
          el[j] = mul2(s, sc, A(s, p, j));
        out = mk(s, T_LIST, 0, T(s, p)->shape, 0, 0, el, k);
        free(el);
      } else {
        Tid y = mul2(s, mul(s, g.v, g.n), A(s, p, 0));
        out = op_term(s, OP_PAD, T(s, p)->shape, T(s, p)->idx, &y, 1);
      }
      free(g.v);
      return out;
    }
  }
  if (g.n == 0) {
    free(g.v);
    return bcast(s, num(s, c), shape);
  }
  Tid out;
  if (g.n == 1 && c == 1) {
    out = g.v[0];
  } else {
    sort(s, g.v, g.n, cmp_factor);
    if (c != 1) {
      push(s, &g, NO_TERM);
      memmove(g.v + 1, g.v, (g.n - 1) * sizeof *g.v);
      g.v[0] = num(s, c);
    }
    ShapeId sh;
    if (bshape(s, g.v, g.n, &sh) < 0)
      sh = shape;
    out = mk(s, T_MUL, 0, sh, 0, 0, g.v, g.n);
  }
  free(g.v);
  return bcast(s, out, shape);
}

/* Pads of scalars into a short vector, and vector literals, added up: a
 * literal [a, b, c]. The entries per position are collected in el. */
static int literal_entry(S *s, Tid t, Tid *el, int64_t n) {
  if (T(s, t)->kind == T_LIST && T(s, t)->nargs == (uint32_t)n) {
    for (int64_t k = 0; k < n; k++)
      el[k] = add2(s, el[k], A(s, t, (uint32_t)k));
    return 1;
  }
  if (!is_op(s, t, OP_PAD))
    return 0;
  const SliceSpec *sp = &s->d->slices[T(s, t)->idx];
  if (sp->rank != 1 || !(sp->drop & 1) || sp->full[0] != n)
    return 0;
  int64_t at = (sp->from_end & 1) ? n + sp->start[0] : sp->start[0];
  if (at < 0 || at >= n)
    return 0;
  el[at] = add2(s, el[at], A(s, t, 0));
  return 1;
}

enum { MAX_LITERAL = 16 };

static Tid add(S *s, const Tid *args_in, uint32_t n_in) {
  if (s->oom)
    return NO_TERM;
  for (uint32_t i = 0; i < n_in; i++)
    if (args_in[i] == NO_TERM)
      return NO_TERM;
  ShapeId shape;
  if (bshape(s, args_in, n_in, &shape) < 0) {
    s->fail = 1;
    return NO_TERM;
  }
  List f = {0};
  for (uint32_t i = 0; i < n_in; i++) { /* flatten; c*(a + b) joins as c*a + c*b */
    Tid a = args_in[i];
    if (is_op(s, a, OP_BCAST) && (T(s, A(s, a, 0))->kind == T_ADD || T(s, A(s, a, 0))->kind == T_MUL))
      a = A(s, a, 0);
    double c;
    Tid rest = split_coef(s, a, &c);
    if (T(s, a)->kind == T_ADD) {
      for (uint32_t k = 0; k < T(s, a)->nargs; k++)
        push(s, &f, A(s, a, k));
    } else if (rest != NO_TERM && T(s, rest)->kind == T_ADD && T(s, rest)->shape == T(s, a)->shape) {
      for (uint32_t k = 0; k < T(s, rest)->nargs; k++)
        push(s, &f, mul2(s, num(s, c), A(s, rest, k)));
    } else {
      push(s, &f, a);
    }
  }
  unwrap_args(s, f.v, f.n, shape);
  /* like terms: c1*m + c2*m = (c1 + c2)*m */
  double *coef = malloc((f.n + 1) * sizeof *coef);
  Tid *mono = malloc((f.n + 1) * sizeof *mono);
  if (!coef || !mono || s->oom) {
    free(coef);
    free(mono);
    free(f.v);
    s->oom = 1;
    return NO_TERM;
  }
  uint32_t m = 0;
  double constant = 0;
  Index like;
  if (!index_init(s, &like, f.n)) {
    free(coef);
    free(mono);
    free(f.v);
    return NO_TERM;
  }
  for (uint32_t i = 0; i < f.n; i++) {
    Tid t = f.v[i];
    if (is_op(s, t, OP_BCAST) && T(s, A(s, t, 0))->kind == T_NUM)
      t = A(s, t, 0);
    if (T(s, t)->kind == T_NUM) {
      constant += T(s, t)->num;
      continue;
    }
    double c;
    Tid r = split_coef(s, t, &c);
    uint32_t k = index_get(&like, r, m);
    if (k == m) {
      mono[m] = r;
      coef[m++] = 0;
    }
    coef[k] += c;
  }
  index_free(&like);
  free(f.v);
  List g = {0};
  for (uint32_t k = 0; k < m; k++)
    if (coef[k] != 0)
      push(s, &g, coef[k] == 1 ? mono[k] : mul2(s, num(s, coef[k]), mono[k]));
  free(coef);
  free(mono);
  /* pads of scalars into a short vector: one literal */
  const Shape *sh = shp(s, shape);
  if (sh->rank == 1 && sh->dim[0] > 0 && sh->dim[0] <= MAX_LITERAL) {
    int64_t n = sh->dim[0];
    Tid el[MAX_LITERAL];
    uint32_t used = 0, kept = 0;
    for (int64_t k = 0; k < n; k++)
      el[k] = num(s, 0);
    for (uint32_t i = 0; i < g.n; i++)
      if (literal_entry(s, g.v[i], el, n))
        used++;
      else
        g.v[kept++] = g.v[i];
    if (used) {
      g.n = kept;
      push(s, &g, mk(s, T_LIST, 0, shape, 0, 0, el, (uint32_t)n));
    } else {
      g.n = kept;
    }
  }
  if (constant != 0)
    push(s, &g, num(s, constant));
  Tid out;
  if (g.n == 0)
    out = num(s, 0);
  else if (g.n == 1)
    out = g.v[0];
  else {
    sort(s, g.v, g.n, cmp_term);
    ShapeId r;
    if (bshape(s, g.v, g.n, &r) < 0)
      r = shape;
    out = mk(s, T_ADD, 0, r, 0, 0, g.v, g.n);
  }
  free(g.v);
  return bcast(s, out, shape);
}

static Tid powt(S *s, Tid b, Tid e) {
  if (b == NO_TERM || e == NO_TERM)
    return NO_TERM;
  ShapeId shape;
  Tid both[2] = {b, e};
  if (bshape(s, both, 2, &shape) < 0) {
    s->fail = 1;
    return NO_TERM;
  }
  double eb, ee;
  if (is_num(s, e, &ee)) {
    if (ee == 0)
      return bcast(s, num(s, 1), shape);
    if (ee == 1)
      return bcast(s, b, shape);
    if (is_num(s, b, &eb)) {
      double r = dag_eval_op(OP_POW, (double[]){eb, ee});
      if (isfinite(r))
        return bcast(s, num(s, r), shape);
    }
    e = num(s, ee);
    if (T(s, b)->kind == T_POW && T(s, A(s, b, 1))->kind == T_NUM && ee == floor(ee)) /* (x^a)^n */
      return bcast(s, powt(s, A(s, b, 0), num(s, T(s, A(s, b, 1))->num * ee)), shape);
    if (T(s, b)->kind == T_MUL && ee == floor(ee)) { /* (a*b)^n = a^n*b^n */
      uint32_t n = T(s, b)->nargs;
      Tid *f = malloc(n * sizeof *f);
      if (!f) {
        s->oom = 1;
        return NO_TERM;
      }
      for (uint32_t i = 0; i < n; i++)
        f[i] = powt(s, A(s, b, i), e);
      Tid r = mul(s, f, n);
      free(f);
      return bcast(s, r, shape);
    }
  }
  b = unwrap(s, b);
  Tid args[2] = {b, e};
  ShapeId r;
  if (bshape(s, args, 2, &r) < 0)
    r = shape;
  return bcast(s, mk(s, T_POW, 0, r, 0, 0, args, 2), shape);
}

/* An elementwise function of the DAG (or a comparison), folded where its
 * arguments are numbers. */
static Tid elem(S *s, int op, const Tid *args_in, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (args_in[i] == NO_TERM)
      return NO_TERM;
  ShapeId shape;
  if (bshape(s, args_in, n, &shape) < 0) {
    s->fail = 1;
    return NO_TERM;
  }
  Tid args[3];
  memcpy(args, args_in, n * sizeof *args);
  double x[3] = {0, 0, 0};
  int allnum = 1;
  for (uint32_t i = 0; i < n; i++)
    allnum &= is_num(s, args[i], &x[i]);
  if (allnum) {
    double r = dag_eval_op((OpKind)op, x);
    if (isfinite(r))
      return bcast(s, num(s, r), shape);
  }
  switch (op) {
  case OP_WHERE: /* a known condition chooses; the same both ways */
    if (is_num(s, args[0], &x[0]))
      return bcast(s, x[0] != 0 ? args[1] : args[2], shape);
    if (args[1] == args[2])
      return bcast(s, args[1], shape);
    if (T(s, unwrap(s, args[0]))->kind == T_OP && op_info[T(s, unwrap(s, args[0]))->op].cls == OC_CMP &&
        is_num(s, args[1], &x[1]) && is_num(s, args[2], &x[2]) && (x[2] == 0 || x[1] == 0)) {
      /* a comparison is 1 or 0: where(c, a, 0) is a*c, where(c, 0, b) is b*(1 - c) */
      Tid c = x[2] == 0 ? args[0] : add2(s, num(s, 1), neg(s, args[0]));
      return bcast(s, mul2(s, num(s, x[2] == 0 ? x[1] : x[2]), c), shape);
    }
    break;
  case OP_EQ: case OP_LE: case OP_GE: /* x == x is 1 for a finite x */
    if (args[0] == args[1])
      return bcast(s, num(s, 1), shape);
    break;
  case OP_NE: case OP_LT: case OP_GT:
    if (args[0] == args[1])
      return zero(s, shape);
    break;
  case OP_MAX: case OP_MIN:
    if (args[0] == args[1])
      return bcast(s, args[0], shape);
    break;
  case OP_STOP:
    return args[0];
  default:
    break;
  }
  unwrap_args(s, args, n, shape);
  ShapeId r;
  if (bshape(s, args, n, &r) < 0)
    r = shape;
  return bcast(s, op_term(s, op, r, 0, args, n), shape);
}

/* The number of elements along an axis (all of them for -1), as a term. */
static Tid dim_term(S *s, int64_t d);

static Tid count_term(S *s, ShapeId xs, int axis) {
  const Shape *x = shp(s, xs);
  Tid c = num(s, 1);
  for (int k = 0; k < x->rank; k++)
    if (axis < 0 || k == axis)
      c = mul2(s, c, dim_term(s, x->dim[k]));
  return c;
}

static Tid reduce_op(S *s, int op, Tid x, int axis);

/* sum(x, axis): scalar factors come out, a fill is counted, and a onehot
 * summed over its classes is 1 (labels out of range fail at call time). */
static Tid sum(S *s, Tid x, int axis) {
  if (x == NO_TERM)
    return NO_TERM;
  ShapeId xs = T(s, x)->shape, out = shape_drop(s->d, xs, axis);
  if (shape_rank(s->d, xs) == 1)
    axis = -1;
  Tid inner = is_op(s, x, OP_BCAST) ? A(s, x, 0) : x;
  if (T(s, inner)->shape == SHAPE_SCALAR) /* a fill: its value times the count */
    return bcast(s, mul2(s, inner, count_term(s, xs, axis)), out);
  if (inner != x) { /* a broadcast: along a broadcast axis, a count */
    ShapeId ys = T(s, inner)->shape;
    int off = shape_rank(s->d, xs) - shape_rank(s->d, ys);
    if (axis < 0) { /* all of it: the sum of y times how often each entry is repeated */
      Tid v[3] = {count_term(s, xs, -1), powt(s, count_term(s, ys, -1), num(s, -1)), sum(s, inner, -1)};
      return mul(s, v, 3);
    }
    if (axis < off) /* y lacks the axis */
      return bcast(s, mul2(s, inner, count_term(s, xs, axis)), out);
    if (shp(s, ys)->dim[axis - off] == 1 && shp(s, xs)->dim[axis] != 1) { /* y has it as 1 */
      Tid y = reshape(s, inner, shape_drop(s->d, ys, axis - off));
      return bcast(s, mul2(s, y, count_term(s, xs, axis)), out);
    }
    return bcast(s, sum(s, inner, axis - off), out); /* along y's own axis: y's sum, broadcast */
  }
  if (is_op(s, x, OP_ONEHOT) && axis == shape_rank(s->d, xs) - 1)
    return bcast(s, num(s, 1), out);
  if (T(s, x)->kind == T_MUL) {
    List in = {0}, outf = {0};
    for (uint32_t i = 0; i < T(s, x)->nargs; i++)
      push(s, T(s, A(s, x, i))->shape == SHAPE_SCALAR ? &outf : &in, A(s, x, i));
    if (outf.n && in.n) {
      Tid rest = mul(s, in.v, in.n);
      push(s, &outf, sum(s, bcast(s, rest, xs), axis));
      Tid r = mul(s, outf.v, outf.n);
      free(in.v);
      free(outf.v);
      return r;
    }
    free(in.v);
    free(outf.v);
  }
  return reduce_op(s, OP_SUM, x, axis);
}

static Tid reduce_op(S *s, int op, Tid x, int axis) {
  if (x == NO_TERM)
    return NO_TERM;
  ShapeId xs = T(s, x)->shape;
  if (shape_rank(s->d, xs) <= 1)
    axis = -1;
  return op_term(s, op, shape_drop(s->d, xs, axis), axis, &x, 1);
}

static Tid dim_term(S *s, int64_t d) {
  if (d >= 0)
    return num(s, (double)d);
  if (!dim_is_derived(d))
    return sym(s, s->prog->dimnames[~d], SHAPE_SCALAR);
  const DimExpr *x = &s->d->dims[~d - DIM_DERIVED]; /* max(0, floor((sum mul*atom + add)/div)) */
  Tid t = num(s, (double)x->add);
  for (int k = 0; k < x->n; k++)
    t = add2(s, t, x->mul[k] == 1 ? dim_term(s, x->atom[k]) : mul2(s, num(s, (double)x->mul[k]), dim_term(s, x->atom[k])));
  if (x->div != 1) {
    Tid q = mul2(s, t, num(s, 1.0 / (double)x->div));
    return elem(s, OP_FLOOR, &q, 1);
  }
  return t;
}

/* ---- recognising the stable forms --------------------------------------------------------- */

/* Is m max(x, axis) (kept with the axis)? Its x and axis, or NO_TERM. */
static Tid max_of(const S *s, Tid m, int *axis) {
  if (is_op(s, m, OP_RESHAPE))
    m = A(s, m, 0);
  if (!is_op(s, m, OP_MAXR) && !is_op(s, m, OP_AMAX))
    return NO_TERM;
  *axis = (int)T(s, m)->idx;
  return A(s, m, 0);
}

/* Is u x - max(x, axis)? */
static Tid shifted(const S *s, Tid u, int *axis) {
  if (T(s, u)->kind != T_ADD || T(s, u)->nargs != 2)
    return NO_TERM;
  for (int k = 0; k < 2; k++) {
    Tid x = A(s, u, (uint32_t)k), m = A(s, u, (uint32_t)(1 - k));
    if (T(s, m)->kind != T_MUL || T(s, m)->nargs != 2 || !is_value(s, A(s, m, 0), -1))
      continue;
    Tid mx = max_of(s, A(s, m, 1), axis);
    if (mx == x)
      return x;
  }
  return NO_TERM;
}

/* Among the factors of a product, exp(x - max(x)) and 1/sum(exp(x -
 * max(x))) (kept with the axis): they are replaced by NO_TERM and
 * softmax(x) is returned. */
static Tid softmax_pair(S *s, Tid *f, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    if (f[i] == NO_TERM || !is_op(s, f[i], OP_EXP))
      continue;
    int axis = -1;
    Tid x = shifted(s, A(s, f[i], 0), &axis);
    if (x == NO_TERM)
      continue;
    for (uint32_t k = 0; k < n; k++) {
      if (f[k] == NO_TERM || T(s, f[k])->kind != T_POW || !is_value(s, A(s, f[k], 1), -1))
        continue;
      Tid d = A(s, f[k], 0);
      if (is_op(s, d, OP_RESHAPE))
        d = A(s, d, 0);
      if (!is_op(s, d, OP_SUM) || A(s, d, 0) != f[i] || T(s, d)->idx != axis)
        continue;
      f[i] = f[k] = NO_TERM;
      return op_term(s, TX_SOFTMAX, T(s, x)->shape, axis, &x, 1);
    }
  }
  return NO_TERM;
}

/* ---- from the DAG ----------------------------------------------------------------------------- */

static Tid transpose(S *s, Tid x) {
  if (x == NO_TERM)
    return NO_TERM;
  Tid k, rest = pull_scalars(s, x, &k);
  if (k != NO_TERM) /* (c*x)' = c*x' */
    return mul2(s, k, transpose(s, rest));
  const Shape *xs = shp(s, T(s, x)->shape);
  if (xs->rank < 2)
    return x;
  if (is_op(s, x, OP_TRANSPOSE))
    return A(s, x, 0);
  Shape r = {.rank = xs->rank};
  for (int i = 0; i < xs->rank; i++)
    r.dim[i] = xs->dim[xs->rank - 1 - i];
  ShapeId rs = shape_intern(s->d, &r);
  if (is_op(s, x, OP_BCAST) && T(s, A(s, x, 0))->shape == SHAPE_SCALAR)
    return bcast(s, A(s, x, 0), rs);
  return op_term(s, OP_TRANSPOSE, rs, 0, &x, 1);
}

static Tid matmul(S *s, Tid a, Tid b, int flags, ShapeId shape) {
  if (a == NO_TERM || b == NO_TERM)
    return NO_TERM;
  if (is_value(s, a, 0) || is_value(s, b, 0))
    return zero(s, shape);
  Tid ka, kb;
  a = pull_scalars(s, a, &ka);
  b = pull_scalars(s, b, &kb);
  if (ka != NO_TERM || kb != NO_TERM) /* (c*A) @ B = c*(A @ B) */
    return mul2(s, ka == NO_TERM ? kb : kb == NO_TERM ? ka : mul2(s, ka, kb), matmul(s, a, b, flags, shape));
  flags &= 3;
  if (is_op(s, a, OP_TRANSPOSE)) {
    a = A(s, a, 0);
    flags ^= 1;
  }
  if (is_op(s, b, OP_TRANSPOSE)) {
    b = A(s, b, 0);
    flags ^= 2;
  }
  int ra = shape_rank(s->d, T(s, a)->shape), rb = shape_rank(s->d, T(s, b)->shape);
  Tid fa = fill_of(s, a), fb = fill_of(s, b);
  if (fa != NO_TERM && fb == NO_TERM) { /* c*ones(m, k) @ B: c times B's column sums, each row */
    Tid cs = sum(s, b, rb == 1 ? -1 : flags & 2 ? 1 : 0);
    return bcast(s, mul2(s, fa, cs), shape);
  }
  if (fb != NO_TERM && fa == NO_TERM) { /* A @ c*ones(k, n): c times A's row sums, each column */
    Tid rs = sum(s, a, ra == 1 ? -1 : flags & 1 ? 0 : 1);
    if (rb == 2 && ra == 2) {
      Shape col = {.rank = 2};
      col.dim[0] = shp(s, shape)->dim[0];
      col.dim[1] = 1;
      rs = reshape(s, rs, shape_intern(s->d, &col));
    }
    return bcast(s, mul2(s, fb, rs), shape);
  }
  Tid args[2] = {a, b};
  return op_term(s, OP_MATMUL, shape, flags, args, 2);
}

/* Are two slice specs the same places (the fill of a literal aside)? */
static int same_spec(const S *s, int64_t a, int64_t b) {
  SliceSpec x = s->d->slices[a], y = s->d->slices[b];
  x.negzero = y.negzero = 0;
  return !memcmp(&x, &y, sizeof x);
}

/* x[spec]: of a fill, a fill; of a padded y at the same places, y; at
 * another single index of a vector, 0; an entry of a literal; of a sum of
 * such, the sum of theirs. */
static Tid slice(S *s, Tid x, int64_t spec, ShapeId shape) {
  if (x == NO_TERM)
    return NO_TERM;
  const SliceSpec *sp = &s->d->slices[spec];
  if (fill_of(s, x) != NO_TERM)
    return bcast(s, fill_of(s, x), shape);
  Tid k, y = pull_scalars(s, x, &k);
  if (k != NO_TERM) /* (c*x)[i] = c*x[i] */
    return mul2(s, k, slice(s, y, spec, shape));
  int index1 = sp->rank == 1 && (sp->drop & 1) && sp->full[0] >= 0;
  int64_t at = index1 ? ((sp->from_end & 1) ? sp->full[0] + sp->start[0] : sp->start[0]) : -1;
  if (T(s, x)->kind == T_LIST && index1 && at >= 0 && at < (int64_t)T(s, x)->nargs)
    return A(s, x, (uint32_t)at);
  if (is_op(s, x, OP_PAD)) {
    if (same_spec(s, T(s, x)->idx, spec) && T(s, A(s, x, 0))->shape == shape)
      return A(s, x, 0);
    const SliceSpec *pp = &s->d->slices[T(s, x)->idx];
    for (int k = 0; pp->rank == sp->rank && k < sp->rank; k++) /* another index: outside y */
      if ((pp->drop & sp->drop) >> k & 1 && pp->full[k] == sp->full[k] && !dim_is_derived(sp->full[k]) &&
          ((pp->from_end ^ sp->from_end) >> k & 1) == 0 && pp->start[k] != sp->start[k])
        return zero(s, shape);
  }
  if (is_op(s, x, OP_BCAST)) { /* along the broadcast axes every entry is y's */
    Tid y = A(s, x, 0);
    const Shape *ys = shp(s, T(s, y)->shape), *xs = shp(s, T(s, x)->shape);
    int off = xs->rank - ys->rank, ok = sp->rank == xs->rank;
    Shape kept = {0};
    for (int k = 0; ok && k < xs->rank; k++) {
      int b = k < off || (ys->dim[k - off] == 1 && xs->dim[k] != 1);
      int whole = !(sp->drop >> k & 1) && sp->start[k] == 0 && slice_step(sp, k) == 1 &&
                  sp->len[k] == sp->full[k] && !(sp->from_end >> k & 1);
      ok = b || whole;
      if (k >= off && !(b && (sp->drop >> k & 1)))
        kept.dim[kept.rank++] = ys->dim[k - off];
    }
    if (ok)
      return bcast(s, reshape(s, y, shape_intern(s->d, &kept)), shape);
  }
  if (T(s, x)->kind == T_ADD) { /* only when every term simplifies */
    int all = 1;
    for (uint32_t i = 0; i < T(s, x)->nargs && all; i++) {
      Tid a = A(s, x, i);
      all = is_op(s, a, OP_PAD) || T(s, a)->kind == T_LIST || fill_of(s, a) != NO_TERM;
    }
    if (all) {
      List v = {0};
      for (uint32_t i = 0; i < T(s, x)->nargs; i++)
        push(s, &v, A(s, x, i));
      for (uint32_t i = 0; i < v.n; i++)
        v.v[i] = slice(s, v.v[i], spec, shape);
      Tid r = add(s, v.v, v.n);
      free(v.v);
      return r;
    }
  }
  return op_term(s, OP_SLICE, shape, spec, &x, 1);
}

/* The indices of take() along an axis of size d as a mask can compare
 * them: take(arange(d), idx), which maps -d..-1 to 0..d-1 and fails at
 * call time on an index out of range or not an integer as take() does
 * (SPEC 1.7, numpy.take); literal indices already in 0..d-1 as they are. */
static Tid take_index(S *s, Tid idx, int64_t d) {
  if (idx == NO_TERM)
    return NO_TERM;
  int plain = 1;
  const Term *x = T(s, idx);
  uint32_t n = x->kind == T_LIST ? x->nargs : 1;
  for (uint32_t i = 0; i < n && plain; i++) {
    double v;
    plain = is_num(s, x->kind == T_LIST ? A(s, idx, i) : idx, &v) && v >= 0 && v == floor(v) &&
            (d < 0 || v < (double)d);
  }
  if (plain)
    return idx;
  if (d > 0 && n <= 64) { /* literal indices in -d..d-1: their entries normalised */
    Tid el[64];
    int lit = 1;
    for (uint32_t i = 0; i < n && lit; i++) {
      double v;
      lit = is_num(s, x->kind == T_LIST ? A(s, idx, i) : idx, &v) && v == floor(v) && v >= -(double)d &&
            v < (double)d;
      if (lit)
        el[i] = num(s, v < 0 ? v + (double)d : v);
    }
    if (lit)
      return x->kind == T_LIST ? mk(s, T_LIST, 0, x->shape, 0, 0, el, n) : bcast(s, el[0], x->shape);
  }
  Shape r = {.rank = 1, .dim = {d}};
  Tid a[2] = {op_term(s, OP_IOTA, shape_intern(s->d, &r), 0, NULL, 0), idx};
  return op_term(s, OP_TAKE, x->shape, 0, a, 2);
}

/* Is sp whole along every axis but `axis`, and there the first entry
 * (part 0: [:1], reversed [-1:]) or the others (part 1: [1:], reversed
 * [:-1])? */
static int scan_part(S *s, const SliceSpec *sp, int axis, int rev, int part) {
  if (sp->drop || axis >= sp->rank)
    return 0;
  for (int k = 0; k < sp->rank; k++) {
    if (sp->off[k] || slice_step(sp, k) != 1)
      return 0;
    if (k != axis && (sp->start[k] || (sp->from_end >> k & 1) || sp->len[k] != sp->full[k]))
      return 0;
  }
  int64_t n = sp->full[axis], st = sp->start[axis];
  int fe = sp->from_end >> axis & 1;
  if (part == 0)
    return sp->len[axis] == 1 && (!rev ? !fe && st == 0 : fe ? st == -1 : n >= 0 && st == n - 1);
  int64_t rest = n < 0 ? dim_derive(s->d, n, -1, 1) : n - 1;
  return !fe && rest != DIM_FAIL && sp->len[axis] == rest && st == (rev ? 0 : 1);
}

/* A LINSCAN h_i = a_i h_(i-1) + b_i (arg: a, b) as the language writes
 * it. When b is 0 but for its first entry v (along the axis, from the end
 * when reversed), h is a running product, cumprod(concat([v, a[1:]])) (a's
 * first entry is never used): the cumprod() built-in (v = y[:1], a[1:] =
 * y[1:]: cumprod(y)) and the products of the entries before (after) each
 * one in the partials of prod (v = 1, a[1:] = y[:-1]). Others, as the
 * derivatives of a LINSCAN, are linscan(a, b). */
static Tid scan_term(S *s, const Node *nd, const Tid *arg) {
  int axis = (int)(nd->v.idx >> 1), rev = (int)(nd->v.idx & 1);
  Tid a = arg[0], b = arg[1];
  if (is_op(s, a, OP_PAD) && is_op(s, b, OP_PAD) &&
      scan_part(s, &s->d->slices[T(s, a)->idx], axis, rev, 1) &&
      scan_part(s, &s->d->slices[T(s, b)->idx], axis, rev, 0)) {
    Tid z = A(s, a, 0), v = A(s, b, 0), c;
    if (is_op(s, z, OP_SLICE) && is_op(s, v, OP_SLICE) && A(s, z, 0) == A(s, v, 0) &&
        T(s, A(s, z, 0))->shape == nd->shape && scan_part(s, &s->d->slices[T(s, z)->idx], axis, rev, 1) &&
        scan_part(s, &s->d->slices[T(s, v)->idx], axis, rev, 0)) {
      c = A(s, z, 0); /* concat([y[:1], y[1:]]) is y */
    } else {
      Tid two[2] = {rev ? z : v, rev ? v : z};
      c = op_term(s, TX_CONCAT, nd->shape, axis, two, 2);
    }
    return op_term(s, TX_CUMPROD, nd->shape, nd->v.idx, &c, 1);
  }
  if (is_op(s, a, OP_PAD) && scan_part(s, &s->d->slices[T(s, a)->idx], axis, rev, 1)) {
    /* a = concat([0, z]): its first entry is never used, written as the 0 it is */
    Shape one = *shp(s, nd->shape);
    one.dim[axis] = 1;
    Tid z = zero(s, shape_intern(s->d, &one)), two[2] = {rev ? A(s, a, 0) : z, rev ? z : A(s, a, 0)};
    a = op_term(s, TX_CONCAT, nd->shape, axis, two, 2);
  }
  Tid ab[2] = {a, b};
  return op_term(s, OP_LINSCAN, nd->shape, nd->v.idx, ab, 2);
}

/* The term of DAG node i, given those of its arguments. */
static Tid from_node(S *s, NodeId i, const Tid *arg) {
  const Node *nd = &s->d->nodes[i];
  const Program *prog = s->prog;
  switch ((OpKind)nd->op) {
  case OP_CONST: return bcast(s, num(s, nd->v.num), nd->shape);
  case OP_VAR: return sym(s, prog->vars[nd->v.idx].name, nd->shape);
  case OP_DIM: return dim_term(s, ~(int64_t)nd->v.idx);
  case OP_ADD: return add2(s, arg[0], arg[1]);
  case OP_SUB: return add2(s, arg[0], neg(s, arg[1]));
  case OP_MUL: case OP_SMUL: return mul2(s, arg[0], arg[1]);
  case OP_DIV: return mul2(s, arg[0], powt(s, arg[1], num(s, -1)));
  case OP_NEG: return neg(s, arg[0]);
  case OP_POW: return powt(s, arg[0], arg[1]);
  case OP_BCAST: return bcast(s, arg[0], nd->shape);
  case OP_RESHAPE: return reshape(s, arg[0], nd->shape);
  case OP_TRANSPOSE: return transpose(s, arg[0]);
  case OP_SUM: return sum(s, arg[0], (int)nd->v.idx);
  case OP_MATMUL: return matmul(s, arg[0], arg[1], (int)nd->v.idx, nd->shape);
  case OP_SLICE:
    return slice(s, arg[0], nd->v.idx, nd->shape);
  case OP_PAD: {
    double v;
    if (is_num(s, arg[0], &v) && v == 0)
      return zero(s, nd->shape);
    return op_term(s, nd->op, nd->shape, nd->v.idx, arg, 1);
  }
  case OP_SCATTER_ADD: {
    Tid p = is_value(s, arg[1], 0) ? zero(s, nd->shape) : op_term(s, OP_PAD, nd->shape, nd->v.idx, &arg[1], 1);
    return add2(s, arg[0], p);
  }
  case OP_SCATTER: { /* the mask compares with the indices normalised */
    Tid a[2] = {arg[0], take_index(s, arg[1], shp(s, nd->shape)->dim[nd->v.idx])};
    return op_term(s, nd->op, nd->shape, nd->v.idx, a, 2);
  }
  case OP_LINSCAN:
    return scan_term(s, nd, arg);
  case OP_MAXR: case OP_AMAX: case OP_ARGMAX: case OP_PROD: case OP_CUMSUM: case OP_TAKE:
  case OP_ONEHOT: case OP_IOTA:
    return op_term(s, nd->op, nd->shape, nd->v.idx, arg, nd->nargs);
  default:
    if (OP_IS_ELEMWISE(nd->op))
      return elem(s, nd->op, arg, nd->nargs);
    snprintf(s->why, sizeof s->why, "the operator '%s'", op_info[nd->op].name);
    s->fail = 1;
    return NO_TERM;
  }
}

/* The term of `root`: every node it depends on, in id order (a
 * topological order), stopping at the named definitions. */
static Tid import(S *s, NodeId root, const char *const *name) {
  uint32_t n = root + 1;
  uint8_t *live = calloc(n, 1);
  Tid *term = malloc(n * sizeof *term);
  if (!live || !term) {
    free(live);
    free(term);
    s->oom = 1;
    return NO_TERM;
  }
  live[root] = 1;
  for (uint32_t i = n; i-- > 0;)
    if (live[i] && !name[i])
      for (int k = 0; k < s->d->nodes[i].nargs; k++)
        live[s->d->nodes[i].arg[k]] = 1;
  Tid r = NO_TERM;
  for (uint32_t i = 0; i < n && !s->oom && !s->fail; i++) {
    term[i] = NO_TERM;
    if (!live[i])
      continue;
    if (name[i]) {
      term[i] = sym(s, name[i], s->d->nodes[i].shape);
      continue;
    }
    Tid arg[3];
    for (int k = 0; k < s->d->nodes[i].nargs; k++)
      arg[k] = term[s->d->nodes[i].arg[k]];
    term[i] = from_node(s, i, arg);
    if (term[i] == NO_TERM && !s->oom)
      s->fail = 1;
  }
  if (!s->oom && !s->fail)
    r = term[root];
  free(live);
  free(term);
  return r;
}

/* ---- common factors --------------------------------------------------------------------------- */

/* The exponent of base b among the factors of term a (a number), or 0 if
 * it has no such factor (or not with a numeric exponent). */
static double exponent_in(S *s, Tid a, Tid b) {
  uint32_t n = T(s, a)->kind == T_MUL ? T(s, a)->nargs : 1;
  for (uint32_t i = 0; i < n; i++) {
    Tid f = T(s, a)->kind == T_MUL ? A(s, a, i) : a, e, base = base_exp(s, f, &e);
    if (base == b && T(s, e)->kind == T_NUM)
      return T(s, e)->num;
  }
  return 0;
}

/* a*c + b*c = (a + b)*c: the factors every term of a sum shares come out
 * (softmax(Z)/N - onehot/N is (softmax(Z) - onehot)/N). */
static Tid factor_add(S *s, Tid t) {
  if (t == NO_TERM || T(s, t)->kind != T_ADD)
    return t;
  Tid first = A(s, t, 0);
  uint32_t nf = T(s, first)->kind == T_MUL ? T(s, first)->nargs : 1, nt = T(s, t)->nargs;
  List common = {0};
  for (uint32_t i = 0; i < nf; i++) {
    Tid f = T(s, first)->kind == T_MUL ? A(s, first, i) : first, e, b = base_exp(s, f, &e);
    if (T(s, f)->kind == T_NUM || T(s, e)->kind != T_NUM)
      continue;
    double em = T(s, e)->num;
    for (uint32_t j = 1; j < nt && em != 0; j++) {
      double ej = exponent_in(s, A(s, t, j), b);
      em = (ej > 0) != (em > 0) || ej == 0 ? 0 : em > 0 ? fmin(em, ej) : fmax(em, ej);
    }
    if (em != 0)
      push(s, &common, powt(s, b, num(s, em)));
  }
  double c0; /* the same coefficient on every term: 0.2*a - 0.2*b is 0.2*(a - b) */
  split_coef(s, first, &c0);
  int same_c = fabs(c0) != 1 && c0 != 0;
  for (uint32_t j = 1; j < nt && same_c; j++) {
    double cj;
    split_coef(s, A(s, t, j), &cj);
    same_c = fabs(cj) == fabs(c0);
  }
  if (same_c)
    push(s, &common, num(s, fabs(c0)));
  if (!common.n) {
    free(common.v);
    return t;
  }
  List rest = {0}, one = {0};
  for (uint32_t j = 0; j < nt; j++) {
    one.n = 0;
    push(s, &one, A(s, t, j));
    for (uint32_t k = 0; k < common.n; k++)
      push(s, &one, powt(s, common.v[k], num(s, -1)));
    push(s, &rest, mul(s, one.v, one.n));
  }
  push(s, &common, add(s, rest.v, rest.n));
  Tid r = bcast(s, mul(s, common.v, common.n), T(s, t)->shape);
  free(common.v);
  free(rest.v);
  free(one.v);
  return r;
}

/* The term rebuilt from its leaves with the common factors of its sums
 * taken out, in id (topological) order. */
static Tid factor_terms(S *s, Tid root) {
  if (root == NO_TERM)
    return root;
  uint32_t n = root + 1;
  uint8_t *live = calloc(n, 1);
  Tid *map = malloc(n * sizeof *map);
  List args = {0};
  if (!live || !map) {
    free(live);
    free(map);
    s->oom = 1;
    return NO_TERM;
  }
  live[root] = 1;
  for (uint32_t i = n; i-- > 0;)
    if (live[i])
      for (uint32_t k = 0; k < s->t[i].nargs; k++)
        live[A(s, i, k)] = 1;
  for (uint32_t i = 0; i < n && !s->oom; i++) {
    if (!live[i])
      continue;
    const Term x = s->t[i]; /* a copy: constructors move s->t */
    int changed = 0;
    args.n = 0;
    for (uint32_t k = 0; k < x.nargs; k++) {
      Tid a = A(s, i, k);
      push(s, &args, map[a]);
      changed |= map[a] != a;
    }
    Tid r = i;
    if (changed) {
      switch (x.kind) {
      case T_ADD: r = add(s, args.v, args.n); break;
      case T_MUL: r = mul(s, args.v, args.n); break;
      case T_POW: r = powt(s, args.v[0], args.v[1]); break;
      case T_OP:
        switch (x.op) {
        case OP_SUM: r = sum(s, args.v[0], (int)x.idx); break;
        case OP_MATMUL: r = matmul(s, args.v[0], args.v[1], (int)x.idx, x.shape); break;
        case OP_RESHAPE: r = reshape(s, args.v[0], x.shape); break;
        case OP_TRANSPOSE: r = transpose(s, args.v[0]); break;
        case OP_BCAST: r = bcast(s, args.v[0], x.shape); break;
        case OP_SLICE: r = slice(s, args.v[0], x.idx, x.shape); break;
        default:
          r = OP_IS_ELEMWISE(x.op) ? elem(s, x.op, args.v, args.n)
                                   : mk(s, x.kind, x.op, x.shape, x.num, x.idx, args.v, args.n);
          break;
        }
        break;
      default: r = mk(s, x.kind, x.op, x.shape, x.num, x.idx, args.v, args.n); break;
      }
      r = bcast(s, r, x.shape);
    }
    map[i] = factor_add(s, r);
  }
  Tid r = s->oom ? NO_TERM : map[root];
  free(live);
  free(map);
  free(args.v);
  return r;
}

/* ---- printing ------------------------------------------------------------------------------- */

typedef struct P {
  S *s;
  Buf *b;
  int *let;            /* term -> let number, or 0 (terms made while printing have none) */
  uint32_t nlet;       /* terms that let covers */
  const char *letfmt;  /* "t%d" */
  Tid ones_of;         /* a variable, for ones shaped like it (V^0) */
} P;

enum { PR_CMP = 1, PR_ADD = 2, PR_MUL = 3, PR_NEG = 4, PR_POW = 5, PR_ATOM = 9 };

#define LET(p, t) ((t) < (p)->nlet ? (p)->let[t] : 0)

/* A number as the shortest literal that reads back as the same double. */
static void put_num(Buf *b, double x) {
  char t[40];
  if (isnan(x)) {
    buf_puts(b, "(0/0)");
    return;
  }
  if (isinf(x)) {
    buf_puts(b, x > 0 ? "(1/0)" : "(-1/0)");
    return;
  }
  if (x == floor(x) && fabs(x) < 1e15) {
    buf_printf(b, "%.0f", x);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(t, sizeof t, "%.*g", prec, x);
    if (strtod(t, NULL) == x)
      break;
  }
  buf_puts(b, t);
}

/* A coefficient as p/q with a small q when that is exact and shorter:
 * 1/3 rather than 0.3333333333333333. */
static int rational(double c, double *p, double *q) {
  char t[40];
  snprintf(t, sizeof t, "%.6g", c);
  if (strtod(t, NULL) == c)
    return 0; /* short enough as a decimal */
  for (int d = 2; d <= 1000; d++) {
    double n = nearbyint(c * d);
    if (fabs(n) < 1e9 && n / d == c) {
      *p = n;
      *q = d;
      return 1;
    }
  }
  return 0;
}

static int prec(P *p, Tid t);
static void pr(P *p, Tid t, int ctx);

static void pr_arg(P *p, Tid t, int ctx) {
  int paren = prec(p, t) < ctx;
  if (paren)
    buf_puts(p->b, "(");
  pr(p, t, 0);
  if (paren)
    buf_puts(p->b, ")");
}

static int negative_coef(P *p, Tid t) {
  const Term *x = T(p->s, t);
  if (LET(p, t))
    return 0;
  if (x->kind == T_NUM)
    return x->num < 0;
  if (x->kind == T_OP && x->op == OP_PAD) /* pad(-y): - pad(y) */
    return negative_coef(p, A(p->s, t, 0));
  return x->kind == T_MUL && T(p->s, A(p->s, t, 0))->kind == T_NUM && T(p->s, A(p->s, t, 0))->num < 0;
}

/* A broadcast between sizes that are equal at call time (x[1::2] and
 * x[::2] of an even N): nothing to print. */
static int equal_sizes(const S *s, Tid t) {
  const Shape *from = shp(s, T(s, A(s, t, 0))->shape), *to = shp(s, T(s, t)->shape);
  int same = from->rank == to->rank;
  for (int k = 0; same && k < to->rank; k++)
    same = from->dim[k] == to->dim[k] || dims_may_equal(s->d, from->dim[k], to->dim[k]);
  return same;
}

/* Is t -1 times a sum, printed as the sum negated? */
static int minus_sum(P *p, Tid t) {
  const Term *x = T(p->s, t);
  return x->kind == T_MUL && x->nargs == 2 && is_value(p->s, A(p->s, t, 0), -1) &&
         T(p->s, A(p->s, t, 1))->kind == T_ADD && !LET(p, A(p->s, t, 1));
}

static int prec(P *p, Tid t) {
  const Term *x = T(p->s, t);
  if (!LET(p, t) && minus_sum(p, t))
    return PR_ADD;
  if (LET(p, t))
    return PR_ATOM;
  if (x->kind == T_OP && x->op == OP_BCAST && equal_sizes(p->s, t))
    return prec(p, A(p->s, t, 0));
  switch (x->kind) {
  case T_NUM: {
    double a, b;
    return x->num < 0 ? PR_NEG : rational(x->num, &a, &b) ? PR_MUL : PR_ATOM;
  }
  case T_SYM: case T_LIST: return PR_ATOM;
  case T_ADD: return PR_ADD;
  case T_MUL: return negative_coef(p, t) ? PR_NEG : PR_MUL;
  case T_POW:
    return T(p->s, A(p->s, t, 1))->kind == T_NUM && T(p->s, A(p->s, t, 1))->num < 0 ? PR_MUL : PR_POW;
  default:
    break;
  }
  switch (x->op) {
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE: return PR_CMP;
  case OP_MATMUL: case OP_BCAST: case OP_SCATTER: return PR_MUL;
  case OP_PAD: return PR_MUL;
  default: return PR_ATOM;
  }
}

static int put_axis_range(P *p, int64_t n, int k, int r);

/* Ones of shape sh, to broadcast with: V^0 for a variable of that shape,
 * else a product of arange(n)^0 along each axis. */
static void put_ones(P *p, ShapeId sh) {
  const Shape *x = shp(p->s, sh);
  for (int v = 0; v < p->s->prog->nvars; v++)
    if (p->s->prog->vars[v].shape == sh) {
      buf_printf(p->b, "%s^0", p->s->prog->vars[v].name);
      return;
    }
  for (int k = 0; k < x->rank; k++) {
    if (k)
      buf_puts(p->b, "*");
    put_axis_range(p, x->dim[k], k, x->rank);
    buf_puts(p->b, "^0");
  }
}

/* A dimension in an expression: N, 3, N - 1. */
static void put_dim(P *p, int64_t d) {
  char dn[128];
  dim_format(p->s->d, d, dn, sizeof dn);
  if (strpbrk(dn, "+-/")) {
    Tid t = dim_term(p->s, d);
    pr_arg(p, t, PR_ATOM);
  } else {
    buf_puts(p->b, dn);
  }
}

/* The index text of axis k of a slice spec: 1, :, 1:, :-1, ::2. */
static void put_axis(P *p, const SliceSpec *sp, int k) {
  Buf *b = p->b;
  int64_t st = slice_step(sp, k), a = sp->start[k];
  if (sp->drop >> k & 1)
    buf_printf(b, "%lld", (long long)a);
  else if (a == 0 && st == 1 && sp->len[k] == sp->full[k] && !(sp->from_end >> k & 1))
    buf_puts(b, ":");
  else if (sp->len[k] >= 0) { /* a literal length: the stop is start + step*len */
    int64_t stop = a + st * sp->len[k];
    int open = (sp->from_end >> k & 1) ? stop >= 0 : stop < 0; /* to the end */
    if (st > 0 && sp->full[k] >= 0 && stop >= sp->full[k] && !(sp->from_end >> k & 1))
      open = 1;
    if (a != 0 || st < 0 || (sp->from_end >> k & 1))
      buf_printf(b, "%lld", (long long)a);
    buf_puts(b, ":");
    if (!open)
      buf_printf(b, "%lld", (long long)stop);
    if (st != 1)
      buf_printf(b, ":%lld", (long long)st);
  } else { /* a derived length: the stop from the other side (lower.c slice_dim) */
    const DimExpr *x = dim_is_derived(sp->len[k]) ? &p->s->d->dims[~sp->len[k] - DIM_DERIVED] : NULL;
    if (x && !(x->n == 1 && x->mul[0] == 1)) { /* not base + add: no stop to print */
      snprintf(p->s->why, sizeof p->s->why, "a slice whose length is %s", "an affine size");
      p->s->fail = 1;
      return;
    }
    /* the length relative to the sliced dimension: that dimension may be
     * derived itself (x[1:][:-1]: N-2 of N-1), base + fadd */
    int64_t fatom = sp->full[k], fadd = 0;
    if (dim_is_derived(fatom)) {
      const DimExpr *f = &p->s->d->dims[~fatom - DIM_DERIVED];
      if (f->n == 1 && f->mul[0] == 1 && f->div == 1)
        fatom = f->atom[0], fadd = f->add;
    }
    if (x && x->atom[0] != fatom) {
      snprintf(p->s->why, sizeof p->s->why, "a slice whose length is %s", "not its dimension plus a constant");
      p->s->fail = 1;
      return;
    }
    int64_t m = st > 0 ? st : -st, diff = x ? x->add - fadd - m + 1 : 0;
    int64_t stop = st > 0 ? a + diff : a - diff;
    if (a != 0 || st < 0)
      buf_printf(b, "%lld", (long long)a);
    buf_puts(b, ":");
    if (x && stop != (st > 0 ? 0 : -1))
      buf_printf(b, "%lld", (long long)stop);
    if (st != 1)
      buf_printf(b, ":%lld", (long long)st);
  }
}

/* A vector of length d with distinct entries: arange(d), or for a derived
 * dimension a slice of its base's (arange(N)[1::2] has N//2 entries,
 * arange(N)[1:] has N - 1). Returns 1 when the entries are 0, 1, ..., d-1. */
static int put_range(P *p, int64_t d) {
  if (!dim_is_derived(d)) {
    buf_puts(p->b, "arange(");
    put_dim(p, d);
    buf_puts(p->b, ")");
    return 1;
  }
  const DimExpr *x = &p->s->d->dims[~d - DIM_DERIVED]; /* floor((base + add)/div) */
  int64_t k = x->div - 1 - x->add; /* base[k::div] has that many entries */
  if (!(x->n == 1 && x->mul[0] == 1)) {
    snprintf(p->s->why, sizeof p->s->why, "a range of %s", "an affine size");
    p->s->fail = 1;
    return 0;
  }
  if (k < 0) {
    snprintf(p->s->why, sizeof p->s->why, "a tensor of %s elements", "more than its base's");
    p->s->fail = 1;
    return 0;
  }
  put_range(p, x->atom[0]);
  if (x->div == 1)
    buf_printf(p->b, "[%lld:]", (long long)k);
  else
    buf_printf(p->b, k ? "[%lld::%lld]" : "[::%lld]", k ? (long long)k : (long long)x->div, (long long)x->div);
  return 0;
}

/* put_range(n) as axis k of a rank-r tensor: arange(n)[:, None]. */
static int put_axis_range(P *p, int64_t n, int k, int r) {
  int plain = put_range(p, n);
  if (k + 1 < r) {
    buf_puts(p->b, "[:");
    for (int j = k + 1; j < r; j++)
      buf_puts(p->b, ", None");
    buf_puts(p->b, "]");
  }
  return plain;
}

/* The adjoint of an index or a slice: y put back at its places in zeros.
 * Indexed axes: y with a new axis times the mask (arange(n) == i); a
 * sliced axis: the 0/1 selection matrix (arange(n)[:, None] ==
 * arange(n)[a:b:s]) times y, for tensors of rank 1 or 2. */
static void put_pad(P *p, Tid t) {
  S *s = p->s;
  const SliceSpec *sp = &s->d->slices[T(s, t)->idx];
  Tid y = A(s, t, 0);
  int r = sp->rank, parts = 0;
  for (int k = 0; k < r; k++)
    if (!(sp->drop >> k & 1) &&
        !(sp->start[k] == 0 && slice_step(sp, k) == 1 && sp->len[k] == sp->full[k] && !(sp->from_end >> k & 1)))
      parts |= 1 << k;
  if (parts && r > 2) {
    snprintf(s->why, sizeof s->why, "a slice of a tensor of rank %d", r);
    s->fail = 1;
    return;
  }
  Buf inner = {0}, *save = p->b;
  p->b = &inner;
  int atom; /* is inner an operand of @ as it is? */
  if (sp->drop) { /* y with the indexed axes back (None), times the masks */
    if (T(s, y)->shape != SHAPE_SCALAR) {
      pr_arg(p, y, PR_ATOM);
      buf_puts(p->b, "[");
      for (int k = 0; k < r; k++)
        buf_puts(p->b, k ? (sp->drop >> k & 1 ? ", None" : ", :") : (sp->drop & 1 ? "None" : ":"));
      buf_puts(p->b, "]*");
    } else if (!is_value(s, y, 1)) {
      pr_arg(p, y, PR_MUL);
      buf_puts(p->b, "*");
    }
    for (int k = 0, nmask = 0; k < r; k++)
      if (sp->drop >> k & 1) {
        buf_puts(p->b, nmask++ ? "*(" : "(");
        Buf range = {0}, *b0 = p->b;
        p->b = &range;
        int plain = put_range(p, sp->full[k]);
        p->b = b0;
        buf_putn(p->b, range.data ? range.data : "", range.len);
        if (k + 1 < r) {
          buf_puts(p->b, "[:");
          for (int j = k + 1; j < r; j++)
            buf_puts(p->b, ", None");
          buf_puts(p->b, "]");
        }
        buf_puts(p->b, " == ");
        if (!plain) { /* the entry at that index of the same range */
          buf_putn(p->b, range.data ? range.data : "", range.len);
          buf_printf(p->b, "[%lld]", (long long)sp->start[k]);
        } else if (sp->from_end >> k & 1) {
          put_dim(p, sp->full[k]);
          buf_printf(p->b, " - %lld", (long long)-sp->start[k]);
        } else {
          buf_printf(p->b, "%lld", (long long)sp->start[k]);
        }
        buf_puts(p->b, ")");
        buf_free(&range);
      }
    atom = 0;
  } else {
    atom = prec(p, y) >= PR_ATOM;
    pr(p, y, 0);
  }
  for (int k = r - 1; k >= 0; k--) { /* then each sliced axis */
    if (!(parts >> k & 1))
      continue;
    Buf sel = {0}, *b0 = p->b;
    p->b = &sel;
    if (k == r - 1 && r == 2) { /* (m, L) @ (L, n) */
      buf_printf(p->b, atom ? "%.*s" : "(%.*s)", (int)inner.len, inner.data ? inner.data : "");
      buf_puts(p->b, " @ (");
      put_range(p, sp->full[k]);
      buf_puts(p->b, "[");
      put_axis(p, sp, k);
      buf_puts(p->b, "][:, None] == ");
      put_range(p, sp->full[k]);
      buf_puts(p->b, ")");
    } else { /* (n, L) @ (L) or (n, L) @ (L, m) */
      buf_puts(p->b, "(");
      put_axis_range(p, sp->full[k], 0, 2);
      buf_puts(p->b, " == ");
      put_range(p, sp->full[k]);
      buf_puts(p->b, "[");
      put_axis(p, sp, k);
      buf_puts(p->b, "]) @ ");
      buf_printf(p->b, atom ? "%.*s" : "(%.*s)", (int)inner.len, inner.data ? inner.data : "");
    }
    p->b = b0;
    buf_free(&inner);
    inner = sel;
    atom = 0;
  }
  p->b = save;
  buf_putn(p->b, inner.data ? inner.data : "", inner.len);
  buf_free(&inner);
}

/* The printed name of a reduction: sum, max, argmax, prod, logsumexp. */
static const char *reduce_name(int op) {
  switch (op) {
  case OP_SUM: return "sum";
  case OP_MAXR: case OP_AMAX: return "max";
  case OP_ARGMAX: return "argmax";
  case OP_PROD: return "prod";
  case TX_LOGSUMEXP: return "logsumexp";
  default: return NULL;
  }
}

/* A reshape that inserts axes of size 1 (x[:, None]) or removes them
 * (x[:, 0]) as an index; 0 if it is neither. */
static int put_reshape_index(P *p, Tid x, ShapeId to) {
  const Shape *in = shp(p->s, T(p->s, x)->shape), *out = shp(p->s, to);
  char idx[160] = "";
  size_t n = 0;
  int i = 0, k = 0;
  if (in->rank == 0)
    return 0;
  if (out->rank > in->rank) {
    for (; k < out->rank; k++) {
      const char *w;
      if (i < in->rank && in->dim[i] == out->dim[k] && out->rank - k >= in->rank - i) {
        w = ":";
        i++;
      } else if (out->dim[k] == 1) {
        w = "None";
      } else {
        return 0;
      }
      n += (size_t)snprintf(idx + n, sizeof idx - n, "%s%s", k ? ", " : "", w);
    }
    if (i != in->rank)
      return 0;
  } else if (out->rank < in->rank) {
    for (; i < in->rank; i++) {
      const char *w;
      if (k < out->rank && in->dim[i] == out->dim[k] && in->rank - i >= out->rank - k) {
        w = ":";
        k++;
      } else if (in->dim[i] == 1) {
        w = "0";
      } else {
        return 0;
      }
      n += (size_t)snprintf(idx + n, sizeof idx - n, "%s%s", i ? ", " : "", w);
    }
    if (k != out->rank)
      return 0;
  } else {
    return 0;
  }
  pr_arg(p, x, PR_ATOM);
  buf_printf(p->b, "[%s]", idx);
  return 1;
}

static void put_reduce(P *p, Tid t, int keep) {
  const Term *x = T(p->s, t);
  buf_printf(p->b, "%s(", reduce_name(x->op));
  pr(p, A(p->s, t, 0), 0);
  if (x->idx >= 0)
    buf_printf(p->b, ", axis=%d", (int)x->idx);
  if (keep)
    buf_puts(p->b, ", keepdims=true");
  buf_puts(p->b, ")");
}

static void put_mul(P *p, Tid t) {
  S *s = p->s;
  List numer = {0}, denom = {0};
  double c = 1;
  uint32_t n = T(s, t)->kind == T_MUL ? T(s, t)->nargs : 1;
  for (uint32_t i = 0; i < n; i++) {
    Tid f = T(s, t)->kind == T_MUL ? A(s, t, i) : t;
    if (T(s, f)->kind == T_NUM) {
      c = T(s, f)->num;
      continue;
    }
    if ((f == t || !LET(p, f)) && T(s, f)->kind == T_POW && T(s, A(s, f, 1))->kind == T_NUM &&
        T(s, A(s, f, 1))->num < 0) {
      push(s, &denom, powt(s, A(s, f, 0), num(s, -T(s, A(s, f, 1))->num)));
      continue;
    }
    push(s, &numer, f);
  }
  if (c < 0) {
    buf_puts(p->b, "-");
    c = -c;
  }
  double pq, qq;
  int rat = rational(c, &pq, &qq);
  int first = 1;
  if (c != 1 || numer.n == 0) {
    if (rat)
      put_num(p->b, pq);
    else
      put_num(p->b, c);
    first = 0;
  }
  for (uint32_t i = 0; i < numer.n; i++) {
    if (!first)
      buf_puts(p->b, "*");
    pr_arg(p, numer.v[i], PR_NEG);
    first = 0;
  }
  if (rat || denom.n) {
    buf_puts(p->b, "/");
    int many = denom.n + (rat && qq != 1) > 1;
    if (many)
      buf_puts(p->b, "(");
    int d1 = 1;
    if (rat) {
      put_num(p->b, qq);
      d1 = 0;
    }
    for (uint32_t i = 0; i < denom.n; i++) {
      if (!d1)
        buf_puts(p->b, "*");
      pr_arg(p, denom.v[i], PR_NEG);
      d1 = 0;
    }
    if (many)
      buf_puts(p->b, ")");
  }
  free(numer.v);
  free(denom.v);
}

/* The tensor literal of shape sh (from axis k on) filled with f. */
static void put_fill_literal(P *p, Tid f, const Shape *sh, int k) {
  if (k == sh->rank) {
    pr(p, f, 0);
    return;
  }
  buf_puts(p->b, "[");
  for (int64_t i = 0; i < sh->dim[k]; i++) {
    if (i)
      buf_puts(p->b, ", ");
    put_fill_literal(p, f, sh, k + 1);
  }
  buf_puts(p->b, "]");
}

/* cumprod(c) and linscan(a, b) along their axis; reversed, of the
 * arguments flipped along it, flipped back. A fill argument of linscan
 * next to one that is not is written as its number (broadcasting). */
static void put_scan(P *p, Tid t) {
  S *s = p->s;
  const Term *x = T(s, t);
  int axis = (int)(x->idx >> 1), rev = (int)(x->idx & 1), r = shape_rank(s->d, x->shape);
  char flip[64] = "[";
  for (int k = 0; k < r && k < 8; k++)
    strcat(flip, k == axis ? (k ? ", ::-1" : "::-1") : (k ? ", :" : ":"));
  strcat(flip, "]");
  int lin = x->op == OP_LINSCAN;
  buf_puts(p->b, lin ? "linscan(" : "cumprod(");
  for (uint32_t i = 0; i < x->nargs; i++) {
    Tid a = A(s, t, i), f = fill_of(s, a);
    if (i)
      buf_puts(p->b, ", ");
    if (lin && f != NO_TERM && fill_of(s, A(s, t, 1 - i)) == NO_TERM) {
      pr(p, f, 0);
      continue;
    }
    pr_arg(p, a, rev ? PR_ATOM : 0);
    if (rev)
      buf_puts(p->b, flip);
  }
  if (r > 1)
    buf_printf(p->b, ", axis=%d", axis);
  buf_puts(p->b, ")");
  if (rev)
    buf_puts(p->b, flip);
}

static void pr(P *p, Tid t, int top) {
  S *s = p->s;
  const Term *x = T(s, t);
  Buf *b = p->b;
  if (!top && LET(p, t)) {
    buf_printf(b, p->letfmt, LET(p, t));
    return;
  }
  switch (x->kind) {
  case T_NUM: {
    double pq, qq;
    if (rational(x->num, &pq, &qq)) {
      put_num(b, pq);
      buf_puts(b, "/");
      put_num(b, qq);
    } else {
      put_num(b, x->num);
    }
    return;
  }
  case T_SYM:
    buf_puts(b, s->names[x->idx]);
    return;
  case T_LIST:
    buf_puts(b, "[");
    for (uint32_t i = 0; i < x->nargs; i++) {
      if (i)
        buf_puts(b, ", ");
      pr(p, A(s, t, i), 0);
    }
    buf_puts(b, "]");
    return;
  case T_ADD: {
    uint32_t first = 0; /* a positive term first: y - w*x */
    while (first < x->nargs && negative_coef(p, A(s, t, first)))
      first++;
    if (first == x->nargs)
      first = 0;
    for (uint32_t j = 0; j < x->nargs; j++) {
      uint32_t i = j == 0 ? first : j <= first ? j - 1 : j;
      Tid a = A(s, t, i);
      i = j;
      if (negative_coef(p, a)) {
        buf_puts(b, i ? " - " : "-");
        pr_arg(p, neg(s, a), i ? PR_MUL : PR_NEG);
      } else {
        if (i)
          buf_puts(b, " + ");
        pr_arg(p, a, PR_ADD);
      }
    }
    return;
  }
  case T_MUL:
    if (minus_sum(p, t)) { /* -(w*x - y) is y - w*x */
      Tid a = A(s, t, 1);
      List v = {0};
      for (uint32_t i = 0; i < T(s, a)->nargs; i++)
        push(s, &v, neg(s, A(s, a, i)));
      pr(p, add(s, v.v, v.n), 0);
      free(v.v);
      return;
    }
    put_mul(p, t);
    return;
  case T_POW: {
    Tid e = A(s, t, 1);
    if (T(s, e)->kind == T_NUM && T(s, e)->num < 0) {
      put_mul(p, t);
      return;
    }
    pr_arg(p, A(s, t, 0), PR_ATOM);
    buf_puts(b, "^");
    pr_arg(p, e, PR_POW);
    return;
  }
  default:
    break;
  }
  int op = x->op;
  const char *red = reduce_name(op);
  switch (op) {
  case OP_BCAST: /* what numpy's broadcasting does not say: times ones */
    if (equal_sizes(s, t)) {
      pr(p, A(s, t, 0), 0);
      return;
    }
    if (!is_value(s, A(s, t, 0), 1)) {
      pr_arg(p, A(s, t, 0), PR_NEG);
      buf_puts(b, "*");
    }
    put_ones(p, x->shape);
    return;
  case OP_RESHAPE: {
    Tid a = A(s, t, 0);
    if (!LET(p, a) && T(s, a)->kind == T_OP && reduce_name(T(s, a)->op) &&
        shape_keepdims(s->d, T(s, A(s, a, 0))->shape, (int)T(s, a)->idx) == x->shape) {
      put_reduce(p, a, 1); /* sum(x, axis=1, keepdims=true) */
      return;
    }
    if (put_reshape_index(p, a, x->shape))
      return;
    buf_puts(b, "reshape(");
    pr(p, a, 0);
    buf_puts(b, ", [");
    /* as lower.c reads it: literal sizes, the names of sizes the tensor
     * has, and one -1 for the rest (N//2 from N, as reshape(x, [-1, 2])) */
    const Shape *sh = shp(s, x->shape), *in = shp(s, T(s, a)->shape);
    int64_t left[MAX_RANK];
    int nleft = 0, infer = 0;
    double lit_in = 1, lit_out = 1;
    for (int k = 0; k < in->rank; k++)
      if (in->dim[k] >= 0)
        lit_in *= (double)in->dim[k];
      else
        left[nleft++] = in->dim[k];
    for (int k = 0; k < sh->rank; k++) {
      if (k)
        buf_puts(b, ", ");
      int64_t d = sh->dim[k];
      int named = 0;
      for (int j = 0; d < 0 && !dim_is_derived(d) && j < nleft && !named; j++)
        if (left[j] == d) {
          left[j] = left[--nleft];
          named = 1;
        }
      if (d >= 0) {
        buf_printf(b, "%lld", (long long)d);
        lit_out *= (double)d;
      } else if (named) {
        put_dim(p, d);
      } else {
        buf_puts(b, "-1");
        infer++;
      }
    }
    int ok = infer <= 1 && nleft <= 1;
    if (ok && nleft == 1)
      ok = infer == 1 && lit_out / lit_in == floor(lit_out / lit_in) && lit_out >= lit_in;
    else if (ok && infer == 1)
      ok = lit_in / lit_out == floor(lit_in / lit_out) && lit_in >= lit_out;
    if (!ok) {
      snprintf(s->why, sizeof s->why, "a reshape of a tensor whose size is known only at call time");
      s->fail = 1;
    }
    buf_puts(b, "])");
    return;
  }
  case OP_TRANSPOSE:
    if (shape_rank(s->d, x->shape) == 2) {
      pr_arg(p, A(s, t, 0), PR_ATOM);
      buf_puts(b, "'");
    } else {
      buf_puts(b, "transpose(");
      pr(p, A(s, t, 0), 0);
      buf_puts(b, ")");
    }
    return;
  case OP_MATMUL:
    for (int k = 0; k < 2; k++) {
      Tid a = A(s, t, (uint32_t)k);
      int tr = (int)(x->idx >> k & 1) && shape_rank(s->d, T(s, a)->shape) == 2;
      if (k)
        buf_puts(b, " @ ");
      pr_arg(p, a, tr ? PR_ATOM : PR_NEG);
      if (tr)
        buf_puts(b, "'");
    }
    return;
  case OP_SLICE: {
    const SliceSpec *sp = &s->d->slices[x->idx];
    pr_arg(p, A(s, t, 0), PR_ATOM);
    buf_puts(b, "[");
    for (int k = 0; k < sp->rank; k++) {
      if (k)
        buf_puts(b, ", ");
      put_axis(p, sp, k);
    }
    buf_puts(b, "]");
    return;
  }
  case OP_PAD:
    put_pad(p, t);
    return;
  case OP_CUMSUM: {
    int axis = (int)(x->idx >> 1), rev = (int)(x->idx & 1), r = shape_rank(s->d, x->shape);
    char flip[64] = "[";
    for (int k = 0; k < r; k++)
      strcat(flip, k == axis ? (k ? ", ::-1" : "::-1") : (k ? ", :" : ":"));
    strcat(flip, "]");
    buf_puts(b, "cumsum(");
    pr_arg(p, A(s, t, 0), rev ? PR_ATOM : 0);
    if (rev)
      buf_puts(b, flip);
    buf_printf(b, ", axis=%d)", axis);
    if (rev)
      buf_puts(b, flip);
    return;
  }
  case OP_TAKE:
    buf_puts(b, "take(");
    pr(p, A(s, t, 0), 0);
    buf_puts(b, ", ");
    pr(p, A(s, t, 1), 0);
    if (x->idx || shape_rank(s->d, T(s, A(s, t, 0))->shape) != 1)
      buf_printf(b, ", axis=%d", (int)x->idx);
    buf_puts(b, ")");
    return;
  case OP_SCATTER: { /* the adjoint of take: a 0/1 matrix of the indices */
    Tid tt = A(s, t, 0), idx = A(s, t, 1);
    const Shape *sh = shp(s, x->shape);
    int ax = (int)x->idx;
    if (T(s, idx)->shape == SHAPE_SCALAR) { /* one index: t with the axis back, times the mask */
      if (T(s, tt)->shape != SHAPE_SCALAR) {
        pr_arg(p, tt, PR_ATOM);
        buf_puts(b, "[");
        for (int k = 0; k < sh->rank; k++)
          buf_puts(b, k == ax ? (k ? ", None" : "None") : (k ? ", :" : ":"));
        buf_puts(b, "]");
      } else {
        pr_arg(p, tt, PR_MUL);
      }
      buf_puts(b, "*(");
      if (!put_axis_range(p, sh->dim[ax], ax, sh->rank)) {
        snprintf(s->why, sizeof s->why, "take() from a tensor of a derived size");
        s->fail = 1;
      }
      buf_puts(b, " == ");
      pr_arg(p, idx, PR_ADD);
      buf_puts(b, ")");
      return;
    }
    if (shape_rank(s->d, T(s, idx)->shape) != 1 || sh->rank > 2) {
      snprintf(s->why, sizeof s->why, "take() with indices of rank %d", shape_rank(s->d, T(s, idx)->shape));
      s->fail = 1;
      return;
    }
    if (dim_is_derived(sh->dim[x->idx])) {
      snprintf(s->why, sizeof s->why, "take() from a tensor of a derived size");
      s->fail = 1;
      return;
    }
    if (x->idx == 0) {
      buf_puts(b, "(arange(");
      put_dim(p, sh->dim[0]);
      buf_puts(b, ")[:, None] == ");
      pr_arg(p, idx, PR_ADD);
      buf_puts(b, ") @ ");
      pr_arg(p, tt, PR_ATOM);
    } else {
      pr_arg(p, tt, PR_NEG);
      buf_puts(b, " @ (");
      pr_arg(p, idx, PR_ATOM);
      buf_puts(b, "[:, None] == arange(");
      put_dim(p, sh->dim[1]);
      buf_puts(b, "))");
    }
    return;
  }
  case OP_ONEHOT:
    buf_puts(b, "onehot(");
    pr(p, A(s, t, 0), 0);
    buf_printf(b, ", %d)", (int)x->idx);
    return;
  case OP_IOTA:
    if (!put_range(p, shp(s, x->shape)->dim[0])) {
      snprintf(s->why, sizeof s->why, "arange() of a derived size");
      s->fail = 1;
    }
    return;
  case TX_CUMPROD:
  case OP_LINSCAN:
    put_scan(p, t);
    return;
  case TX_CONCAT:
    buf_puts(b, "concat([");
    for (uint32_t i = 0; i < 2; i++) {
      Tid c = A(s, t, i);
      const Shape *cs = shp(s, T(s, c)->shape);
      if (i)
        buf_puts(b, ", ");
      long size = 1;
      for (int k = 0; k < cs->rank; k++)
        size = cs->dim[k] < 0 || size > 16 ? 99 : size * cs->dim[k];
      if (fill_of(s, c) != NO_TERM && size <= 16) /* a small literal: [1], [[0], [0]] */
        put_fill_literal(p, fill_of(s, c), cs, 0);
      else
        pr(p, c, 0);
    }
    buf_puts(b, "]");
    if (shape_rank(s->d, x->shape) > 1 || x->idx)
      buf_printf(b, ", axis=%d", (int)x->idx);
    buf_puts(b, ")");
    return;
  case TX_SOFTMAX:
    buf_puts(b, "softmax(");
    pr(p, A(s, t, 0), 0);
    if (x->idx >= 0)
      buf_printf(b, ", axis=%d", (int)x->idx);
    buf_puts(b, ")");
    return;
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
    pr_arg(p, A(s, t, 0), PR_ADD);
    buf_printf(b, " %s ", op_info[op].spell);
    pr_arg(p, A(s, t, 1), PR_ADD);
    return;
  default:
    break;
  }
  if (red) {
    put_reduce(p, t, 0);
    return;
  }
  const char *name = op == OP_MAX ? "maximum" : op == OP_MIN ? "minimum" : op_info[op].spell;
  buf_printf(b, "%s(", name);
  for (uint32_t i = 0; i < x->nargs; i++) {
    if (i)
      buf_puts(b, ", ");
    pr(p, A(s, t, i), 0);
  }
  buf_puts(b, ")");
}

/* ---- the derivative as text -------------------------------------------------------------- */

static int name_taken(const Gradc *g, const char *nm) {
  const Program *prog = &g->prog;
  for (int i = 0; i < g->ndiff_avoid; i++)
    if (!strcmp(g->diff_avoid[i], nm))
      return 1;
  for (int i = 0; i < prog->nvars; i++)
    if (!strcmp(prog->vars[i].name, nm))
      return 1;
  for (int i = 0; i < prog->ndefs; i++)
    if (!strcmp(prog->defs[i].name, nm))
      return 1;
  for (int i = 0; i < prog->nouts; i++)
    if (!strcmp(prog->outs[i].name, nm))
      return 1;
  for (int i = 0; i < prog->ndims; i++)
    if (!strcmp(prog->dimnames[i], nm))
      return 1;
  return 0;
}

/* Is a term worth a let line when it is used twice? Not names, numbers,
 * arange(n) or a name with a new axis. */
static int trivial(const S *s, Tid t) {
  const Term *x = T(s, t);
  if (x->kind == T_NUM || x->kind == T_SYM || (x->kind == T_OP && x->op == OP_IOTA))
    return 1;
  if (x->kind == T_OP && x->op == OP_SLICE && T(s, A(s, t, 0))->kind == T_SYM) { /* x[1] */
    const SliceSpec *sp = &s->d->slices[x->idx];
    return sp->drop == (1u << sp->rank) - 1;
  }
  if (x->kind == T_OP && (x->op == OP_BCAST || x->op == OP_RESHAPE || x->op == OP_TRANSPOSE))
    return trivial(s, A(s, t, 0));
  if (x->kind == T_MUL && x->nargs == 2 && T(s, A(s, t, 0))->kind == T_NUM)
    return trivial(s, A(s, t, 1));
  return 0;
}

/* A broadcast, reshape or transpose: printed around its argument, which
 * is the part worth naming. */
static int wrapper(const S *s, Tid t) {
  return is_op(s, t, OP_BCAST) || is_op(s, t, OP_RESHAPE) || is_op(s, t, OP_TRANSPOSE);
}

enum { MAX_DEPTH = 24 };

GradcStatus gradc_diff_avoid(Gradc *g, const char *const *names, int n) {
  char **a = realloc(g->diff_avoid, ((size_t)g->ndiff_avoid + (size_t)(n > 0 ? n : 0) + 1) * sizeof *a);
  if (!a)
    return GRADC_ERR_NOMEM;
  g->diff_avoid = a;
  for (int i = 0; i < n; i++) {
    if (!names[i])
      continue;
    char *c = strdup(names[i]);
    if (!c)
      return GRADC_ERR_NOMEM;
    a[g->ndiff_avoid++] = c;
  }
  return GRADC_OK;
}

GradcStatus gradc_diff_text(Gradc *g, int out, int var, char **text) {
  *text = NULL;
  Program *prog = &g->prog;
  if (!prog->dag || out < 0 || out >= prog->nouts || var < 0 || var >= prog->nvars) {
    gradc_error(g, GRADC_ERR_USAGE, "no such output or variable");
    return GRADC_ERR_USAGE;
  }
  Dag *d = prog->dag;
  uint32_t n0 = d->count, n;
  int plain = d->plain_prod;
  d->plain_prod = 1; /* the same numbers, written as the reader would write them */
  NodeId *adj = ad_reverse(d, prog->outs[out].node, NO_NODE, &n);
  d->plain_prod = plain;
  if (!adj)
    return GRADC_ERR_NOMEM;
  NodeId root = adj[prog->vars[var].node];
  free(adj);
  if (root == NO_NODE)
    root = dag_bcast(d, dag_const(d, 0), prog->vars[var].shape);
  if (root == NO_NODE)
    return GRADC_ERR_NOMEM;
  const char **name = calloc((size_t)d->count + 1, sizeof *name);
  S s = {.d = d, .prog = prog};
  if (!name)
    return GRADC_ERR_NOMEM;
  /* the program's definitions print as their names (not the output's own) */
  for (int i = 0; i < prog->ndefs; i++) {
    NodeId x = prog->defs[i].node;
    if (x < n0 && d->nodes[x].op != OP_VAR && d->nodes[x].op != OP_CONST && !name[x] &&
        x != prog->outs[out].node)
      name[x] = prog->defs[i].name;
  }
  Tid r = import(&s, root, name);
  free(name);
  Buf b = {0};
  GradcStatus st = GRADC_OK;
  int *let = NULL, *uses = NULL, *depth = NULL;
  if (r != NO_TERM && !s.oom && !s.fail) {
    r = bcast(&s, factor_terms(&s, r), prog->vars[var].shape);
    uint32_t nt = s.n;
    let = calloc(nt + 1, sizeof *let);
    uses = calloc(nt + 1, sizeof *uses);
    depth = calloc(nt + 1, sizeof *depth);
  }
  if (!let || !uses || !depth) {
    st = s.oom || (!s.fail && r == NO_TERM) ? GRADC_ERR_NOMEM : GRADC_ERR_INPUT;
    if (st == GRADC_ERR_INPUT)
      gradc_error(g, GRADC_ERR_INPUT, "the derivative of %s w.r.t. %s uses %s, which the language cannot write",
                  prog->outs[out].name, prog->vars[var].name, s.why[0] ? s.why : "an operator");
  } else {
    /* shared parts and deep ones become let lines, in id (topological) order */
    uint32_t nt = s.n;
    uses[r] = 1;
    for (uint32_t i = nt; i-- > 0;) /* a wrapper's uses are its argument's */
      if (uses[i])
        for (uint32_t k = 0; k < s.t[i].nargs; k++)
          uses[A(&s, i, k)] += wrapper(&s, i) ? uses[i] : 1;
    const char *fmt_let = "t%d";
    char probe[32];
    for (int suffix = 0;; suffix++) { /* let names that no name of the program takes */
      int clash = 0;
      fmt_let = suffix == 0 ? "t%d" : suffix == 1 ? "t_%d" : "tmp%d_";
      for (int k = 1; k <= 64 && !clash; k++) {
        snprintf(probe, sizeof probe, fmt_let, k);
        clash = name_taken(g, probe);
      }
      if (!clash || suffix == 2)
        break;
    }
    P p = {&s, &b, let, nt, fmt_let, NO_TERM};
    int nlet = 0;
    for (uint32_t i = 0; i < nt && !s.fail; i++) {
      if (!uses[i])
        continue;
      int dp = 0;
      for (uint32_t k = 0; k < s.t[i].nargs; k++) {
        Tid a = A(&s, i, k);
        if (!let[a] && depth[a] > dp)
          dp = depth[a];
      }
      depth[i] = dp + 1;
      if (i != r && !trivial(&s, i) && !wrapper(&s, i) && (uses[i] > 1 || depth[i] > MAX_DEPTH)) {
        let[i] = ++nlet;
        depth[i] = 0;
        buf_puts(&b, "let ");
        buf_printf(&b, fmt_let, nlet);
        buf_puts(&b, " = ");
        pr(&p, i, 1);
        buf_puts(&b, "\n");
      }
    }
    buf_printf(&b, "d%s/d%s = ", prog->outs[out].name, prog->vars[var].name);
    pr(&p, r, 1);
    buf_puts(&b, "\n");
    if (s.fail) {
      gradc_error(g, GRADC_ERR_INPUT, "the derivative of %s w.r.t. %s uses %s, which the language cannot write yet",
                  prog->outs[out].name, prog->vars[var].name, s.why[0] ? s.why : "an operator");
      st = GRADC_ERR_INPUT;
    }
  }
  free(let);
  free(uses);
  free(depth);
  free(s.t);
  free(s.pool);
  free(s.bucket);
  free(s.names);
  if (st == GRADC_OK && (b.oom || s.oom))
    st = GRADC_ERR_NOMEM;
  if (st != GRADC_OK) {
    buf_free(&b);
    return st;
  }
  *text = b.data;
  return GRADC_OK;
}
