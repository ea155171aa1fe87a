/* shape.c: shapes and numpy broadcasting (chibicc's type.c for tensors).
 * Shapes are interned in the Dag, so comparing ShapeIds compares shapes. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

ShapeId shape_intern(Dag *g, const Shape *s) {
  Shape key = {0};
  key.rank = s->rank;
  for (int i = 0; i < s->rank; i++)
    key.dim[i] = s->dim[i];
  for (uint32_t i = 0; i < g->nshape; i++)
    if (!memcmp(&g->shapes[i], &key, sizeof key))
      return i;
  if (g->nshape == g->capshape) {
    uint32_t cap = g->capshape * 2;
    Shape *n = realloc(g->shapes, cap * sizeof *n);
    if (!n) {
      g->oom = 1;
      return SHAPE_SCALAR;
    }
    g->shapes = n;
    g->capshape = cap;
  }
  g->shapes[g->nshape] = key;
  return g->nshape++;
}

int shape_broadcast(Dag *g, ShapeId a, ShapeId b, ShapeId *out) {
  if (a == b || b == SHAPE_SCALAR) {
    *out = a;
    return 0;
  }
  if (a == SHAPE_SCALAR) {
    *out = b;
    return 0;
  }
  const Shape *x = shape_get(g, a), *y = shape_get(g, b);
  Shape r = {0};
  r.rank = x->rank > y->rank ? x->rank : y->rank;
  for (int i = 0; i < r.rank; i++) { /* aligned from the right */
    int ix = x->rank - r.rank + i, iy = y->rank - r.rank + i;
    int64_t dx = ix >= 0 ? x->dim[ix] : 1, dy = iy >= 0 ? y->dim[iy] : 1;
    if (dx == dy || dy == 1)
      r.dim[i] = dx;
    else if (dx == 1)
      r.dim[i] = dy;
    else if (dims_may_equal(g, dx, dy)) /* two symbolic sizes: equal at call time (checked) */
      r.dim[i] = dx > dy ? dx : dy; /* a declared one before a derived one */
    else
      return -1;
  }
  *out = shape_intern(g, &r);
  return 0;
}

ShapeId shape_keepdims(Dag *g, ShapeId s, int axis) {
  Shape r = *shape_get(g, s);
  for (int i = 0; i < r.rank; i++)
    if (axis < 0 || i == axis)
      r.dim[i] = 1;
  return shape_intern(g, &r);
}

ShapeId shape_drop(Dag *g, ShapeId s, int axis) {
  if (axis < 0)
    return SHAPE_SCALAR;
  const Shape *x = shape_get(g, s);
  Shape r = {0};
  for (int i = 0; i < x->rank; i++)
    if (i != axis)
      r.dim[r.rank++] = x->dim[i];
  return shape_intern(g, &r);
}

/* ---- derived dimensions ------------------------------------------------ */

#define DIM_BIG ((int64_t)1 << 40) /* the largest coefficient a form may hold */
#define LIN_MAX 64                 /* terms while a form is written out */

static const DimExpr *dim_expr(const Dag *g, int64_t d) { return &g->dims[~d - DIM_DERIVED]; }

static int64_t floor_div(int64_t a, int64_t b) { /* b > 0 */
  int64_t q = a / b;
  return a % b != 0 && a < 0 ? q - 1 : q;
}

static int64_t gcd64(int64_t a, int64_t b) {
  a = a < 0 ? -a : a;
  b = b < 0 ? -b : b;
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* a + b*c, saturated at +-2^62 (bounds only) */
static int64_t sat_fma(int64_t a, int64_t b, int64_t c) {
  const int64_t lim = (int64_t)1 << 62;
  int64_t p, r;
  if (__builtin_mul_overflow(b, c, &p) || __builtin_add_overflow(a, p, &r))
    return (b < 0) != (c < 0) ? -lim : lim;
  return r < -lim ? -lim : r > lim ? lim : r;
}

int64_t dim_min(const Dag *g, int64_t d) {
  if (d >= 0)
    return d;
  if (!dim_is_derived(d))
    return 1; /* a declared dimension binds to a positive size */
  return dim_expr(g, d)->lo;
}

/* A form while it is built: sum_k mul[k]*atom[k] + add, over div. */
typedef struct Lin {
  int n;
  int64_t atom[LIN_MAX], mul[LIN_MAX];
  int64_t add, div;
} Lin;

/* The least value of the numerator of x (INT64_MIN: not bounded below),
 * from its atoms' least values (stored: dim_min is O(1)). */
static int64_t numer_min(const Dag *g, const DimExpr *x) {
  int64_t t = x->add;
  for (int k = 0; k < x->n; k++) {
    if (x->mul[k] < 0)
      return INT64_MIN;
    t = sat_fma(t, x->mul[k], dim_min(g, x->atom[k]));
  }
  return t;
}

static int64_t lin_min(const Dag *g, const DimExpr *x) {
  (void)g;
  return x->numlo;
}

#define BEYOND "a size known only at call time would hold a number beyond 2^40"

static int dim_fail(Dag *g, const char *why) {
  snprintf(g->err, sizeof g->err, "%s", why);
  return -1;
}

static int too_big(int64_t v) { return v > DIM_BIG || v < -DIM_BIG; }

/* Add c*atom to the form (literal atoms to add). */
static int lin_add(Dag *g, Lin *f, int64_t atom, int64_t c) {
  int64_t p;
  if (atom >= 0) {
    if (__builtin_mul_overflow(c, atom, &p) || __builtin_add_overflow(f->add, p, &f->add) || too_big(f->add))
      return dim_fail(g, BEYOND);
    return 0;
  }
  for (int k = 0; k < f->n; k++)
    if (f->atom[k] == atom) {
      if (__builtin_add_overflow(f->mul[k], c, &f->mul[k]) || too_big(f->mul[k]))
        return dim_fail(g, BEYOND);
      return 0;
    }
  if (f->n == LIN_MAX)
    return dim_fail(g, "a size known only at call time would be a sum of too many others");
  f->atom[f->n] = atom;
  f->mul[f->n++] = c;
  return 0;
}

/* Do derived dimensions x and y have the same terms and division? */
static int same_terms(const DimExpr *x, const DimExpr *y) {
  if (x->n != y->n || x->div != y->div)
    return 0;
  for (int k = 0; k < x->n; k++)
    if (x->atom[k] != y->atom[k] || x->mul[k] != y->mul[k])
      return 0;
  return 1;
}

/* Hermite's identity: the d atoms floor((T + a + r)/d), r = 0 .. d-1, with
 * one coefficient c add up to c (T + a) where T + a >= 0 (the clamps at 0
 * never act): x[0::2] and x[1::2] together are N long. 1 if it applied. */
static int hermite(Dag *g, Lin *f) {
  for (int k = 0; k < f->n; k++) {
    if (!dim_is_derived(f->atom[k]))
      continue;
    const DimExpr *x = dim_expr(g, f->atom[k]);
    int64_t d = x->div, c = f->mul[k];
    if (d < 2 || d > f->n)
      continue;
    for (int64_t j = 0; j < d; j++) {
      int64_t base = x->add - j, lo = lin_min(g, x);
      if (lo == INT64_MIN || lo - x->add + base < 0)
        continue;
      int at[LIN_MAX], found = 0;
      for (int64_t r = 0; r < d; r++)
        for (int i = 0; i < f->n; i++) {
          if (!dim_is_derived(f->atom[i]) || f->mul[i] != c)
            continue;
          const DimExpr *y = dim_expr(g, f->atom[i]);
          if (same_terms(x, y) && y->add == base + r) {
            at[found++] = i;
            break;
          }
        }
      if (found != d)
        continue;
      DimExpr t = *x; /* a copy: lin_add may not move g->dims, but f changes */
      for (int r = 0; r < found; r++)
        f->mul[at[r]] = 0;
      for (int i = 0; i < t.n; i++) {
        int64_t m;
        if (__builtin_mul_overflow(c, t.mul[i], &m))
          return dim_fail(g, BEYOND);
        if (lin_add(g, f, t.atom[i], m) < 0)
          return -1;
      }
      int64_t a;
      if (__builtin_mul_overflow(c, base, &a) || __builtin_add_overflow(f->add, a, &f->add) || too_big(f->add))
        return dim_fail(g, BEYOND);
      return 1;
    }
  }
  return 0;
}

/* Write derived atoms out where that is exact, then divide out common
 * factors, until nothing changes. Atoms only refer to older dimensions, so
 * it ends. */
static int lin_canon(Dag *g, Lin *f) {
  for (;;) {
    int k = 0;
    for (int j = 0; j < f->n; j++) /* drop zero terms */
      if (f->mul[j] != 0) {
        f->atom[k] = f->atom[j];
        f->mul[k++] = f->mul[j];
      }
    f->n = k;
    int changed = 0;
    for (k = 0; k < f->n && !changed; k++) {
      if (!dim_is_derived(f->atom[k]))
        continue;
      const DimExpr *x = dim_expr(g, f->atom[k]);
      int64_t c = f->mul[k], lo = lin_min(g, x);
      int exact = lo >= 0; /* the clamp at 0 never acts */
      if (x->div == 1 && exact) { /* c*(sum + a): the terms themselves */
        Lin old = *f;
        f->n = 0;
        for (int j = 0; j < old.n; j++)
          if (j != k && lin_add(g, f, old.atom[j], old.mul[j]) < 0)
            return -1;
        for (int j = 0; j < x->n; j++) {
          int64_t m;
          if (__builtin_mul_overflow(c, x->mul[j], &m))
            return dim_fail(g, BEYOND);
          if (lin_add(g, f, x->atom[j], m) < 0)
            return -1;
        }
        int64_t a;
        if (__builtin_mul_overflow(c, x->add, &a) || __builtin_add_overflow(f->add, a, &f->add) ||
            too_big(f->add))
          return dim_fail(g, BEYOND);
        changed = 1;
      } else if (f->n == 1 && c == 1 && (f->add <= 0 || exact)) {
        /* floor((max(0, floor(L/d')) + a)/d) = floor((L + a d')/(d' d))
         * where L >= 0 or a <= 0 */
        int64_t add, div;
        if (__builtin_mul_overflow(f->add, x->div, &add) || __builtin_add_overflow(add, x->add, &add) ||
            __builtin_mul_overflow(f->div, x->div, &div) || too_big(add) || too_big(div))
          return dim_fail(g, BEYOND);
        f->n = x->n;
        for (int j = 0; j < x->n; j++) {
          f->atom[j] = x->atom[j];
          f->mul[j] = x->mul[j];
        }
        f->add = add;
        f->div = div;
        changed = 1;
      }
    }
    if (!changed) {
      changed = hermite(g, f);
      if (changed < 0)
        return -1;
    }
    if (changed)
      continue;
    int64_t c = f->div;
    for (k = 0; k < f->n; k++)
      c = gcd64(c, f->mul[k]);
    if (c > 1 && f->add % c == 0) {
      for (k = 0; k < f->n; k++)
        f->mul[k] /= c;
      f->add /= c;
      f->div /= c;
    }
    if (f->div > 1 && c == f->div) { /* floor((d Y + a)/d) = Y + floor(a/d) */
      for (k = 0; k < f->n; k++)
        f->mul[k] /= f->div;
      f->add = floor_div(f->add, f->div);
      f->div = 1;
      continue;
    }
    return 0;
  }
}

int64_t dim_affine(Dag *g, int n, const int64_t *atom, const int64_t *mul, int64_t add, int64_t div) {
  Lin f = {.add = add, .div = div < 1 ? 1 : div};
  if (too_big(add) || too_big(f.div)) {
    dim_fail(g, BEYOND);
    return DIM_FAIL;
  }
  for (int k = 0; k < n; k++)
    if (atom[k] == DIM_FAIL || lin_add(g, &f, atom[k], mul[k]) < 0)
      return DIM_FAIL;
  if (lin_canon(g, &f) < 0)
    return DIM_FAIL;
  if (f.n == 0) {
    int64_t v = floor_div(f.add, f.div);
    return v > 0 ? v : 0;
  }
  if (f.n == 1 && f.mul[0] == 1 && f.add == 0 && f.div == 1)
    return f.atom[0];
  if (f.n > DIM_TERMS) {
    dim_fail(g, "a size known only at call time would be a sum of more than 8 others");
    return DIM_FAIL;
  }
  DimExpr x;
  memset(&x, 0, sizeof x);
  for (int k = 0; k < f.n; k++) { /* atoms in order: declared ones first */
    int at = k;
    for (int j = k + 1; j < f.n; j++)
      if (f.atom[j] > f.atom[at])
        at = j;
    int64_t ta = f.atom[k], tm = f.mul[k];
    f.atom[k] = f.atom[at];
    f.mul[k] = f.mul[at];
    f.atom[at] = ta;
    f.mul[at] = tm;
    x.atom[k] = f.atom[k];
    x.mul[k] = f.mul[k];
    if (dim_is_derived(f.atom[k]) && dim_expr(g, f.atom[k])->depth >= x.depth)
      x.depth = dim_expr(g, f.atom[k])->depth + 1;
  }
  x.n = f.n;
  x.add = f.add;
  x.div = f.div;
  x.numlo = numer_min(g, &x);
  x.lo = x.numlo == INT64_MIN ? 0 : floor_div(x.numlo, x.div);
  if (x.lo < 0)
    x.lo = 0;
  if (x.depth >= DIM_MAX_DEPTH) {
    dim_fail(g, "a size known only at call time would be derived too many times over");
    return DIM_FAIL;
  }
  for (uint32_t j = 0; j < g->ndim; j++)
    if (!memcmp(&g->dims[j], &x, sizeof x))
      return ~(int64_t)(DIM_DERIVED + j);
  if (g->ndim == g->capdim) {
    uint32_t cap = g->capdim ? 2 * g->capdim : 8;
    DimExpr *nd = realloc(g->dims, cap * sizeof *nd);
    if (!nd) {
      g->oom = 1;
      return DIM_FAIL;
    }
    g->dims = nd;
    g->capdim = cap;
  }
  g->dims[g->ndim] = x;
  return ~(int64_t)(DIM_DERIVED + g->ndim++);
}

int64_t dim_derive(Dag *g, int64_t base, int64_t add, int64_t div) {
  int64_t one = 1;
  return dim_affine(g, 1, &base, &one, add, div);
}

long dim_eval(const Dag *g, int64_t d, const long *base) {
  if (d >= 0)
    return (long)d;
  if (!dim_is_derived(d))
    return base ? base[~d] : -1;
  /* every derived dimension up to d, in order (atoms are older): each
   * once, however the atoms are shared */
  uint32_t top = (uint32_t)(~d - DIM_DERIVED);
  long small[64], *val = top < 64 ? small : malloc(((size_t)top + 1) * sizeof *val);
  if (!val)
    return -1;
  for (uint32_t j = 0; j <= top; j++) {
    const DimExpr *x = &g->dims[j];
    int64_t t = x->add;
    long v = 0;
    for (int k = 0; k < x->n && v >= 0; k++) {
      int64_t a = x->atom[k];
      v = a >= 0 ? (long)a : !dim_is_derived(a) ? (base ? base[~a] : -1) : val[~a - DIM_DERIVED];
      if (v >= 0)
        t = sat_fma(t, x->mul[k], v);
    }
    val[j] = v < 0 ? -1 : t > 0 ? (long)(t / x->div) : 0;
  }
  long r = val[top];
  if (val != small)
    free(val);
  return r;
}

/* Is d written as a sum (a derived dimension without a division)? */
static int dim_is_sum(const Dag *g, int64_t d) { return dim_is_derived(d) && dim_expr(g, d)->div == 1; }

void dim_format(const Dag *g, int64_t d, char *out, size_t n) {
  if (d >= 0) {
    snprintf(out, n, "%lld", (long long)d);
    return;
  }
  if (!dim_is_derived(d)) {
    snprintf(out, n, "%s", g->dimnames ? g->dimnames[~d] : "?");
    return;
  }
  const DimExpr *x = dim_expr(g, d);
  char num[256];
  size_t k = 0;
  num[0] = 0;
  if (n < 16) { /* no room: the atoms are not written (this bounds the recursion) */
    snprintf(out, n, "...");
    return;
  }
  for (int j = 0; j < x->n && k < sizeof num; j++) {
    char a[200];
    size_t room = n - (k < n ? k : n); /* what is left of the caller's space */
    dim_format(g, x->atom[j], a, room < sizeof a ? room : sizeof a);
    int64_t m = x->mul[j] < 0 ? -x->mul[j] : x->mul[j];
    const char *sign = x->mul[j] < 0 ? "-" : j ? "+" : "";
    int paren = dim_is_sum(g, x->atom[j]) || (m != 1 && dim_is_derived(x->atom[j]));
    if (m != 1)
      k += (size_t)snprintf(num + k, sizeof num - k, "%s%lld*", sign, (long long)m);
    else
      k += (size_t)snprintf(num + k, sizeof num - k, "%s", sign);
    if (k < sizeof num)
      k += (size_t)snprintf(num + k, sizeof num - k, paren ? "(%s)" : "%s", a);
  }
  if (x->add && k < sizeof num)
    snprintf(num + k, sizeof num - k, "%+lld", (long long)x->add);
  int single = x->n == 1 && x->mul[0] == 1 && x->add == 0 && !dim_is_derived(x->atom[0]);
  if (x->div == 1)
    snprintf(out, n, "%s", num);
  else
    snprintf(out, n, single ? "%s//%lld" : "(%s)//%lld", num, (long long)x->div);
}

/* The numerator of d as a form with no clamp at 0 acting (0: it has a
 * division or may clamp). */
static int lin_of(const Dag *g, int64_t d, Lin *f) {
  memset(f, 0, sizeof *f);
  f->div = 1;
  if (!dim_is_derived(d)) {
    f->n = 1;
    f->atom[0] = d;
    f->mul[0] = 1;
    return 1;
  }
  const DimExpr *x = dim_expr(g, d);
  if (x->div != 1 || lin_min(g, x) < 0)
    return 0;
  f->n = x->n;
  for (int k = 0; k < x->n; k++) {
    f->atom[k] = x->atom[k];
    f->mul[k] = x->mul[k];
  }
  f->add = x->add;
  return 1;
}

int dim_offset(const Dag *g, int64_t len, int64_t full, int64_t div, int64_t *off) {
  if (!dim_is_derived(len))
    return 0;
  const DimExpr *x = dim_expr(g, len);
  if (x->div != div)
    return 0;
  if (x->n == 1 && x->mul[0] == 1 && x->atom[0] == full) {
    *off = x->add;
    return 1;
  }
  Lin f;
  if (!dim_is_derived(full) || !lin_of(g, full, &f) || f.n != x->n)
    return 0;
  for (int k = 0; k < x->n; k++)
    if (f.atom[k] != x->atom[k] || f.mul[k] != x->mul[k])
      return 0;
  *off = x->add - f.add;
  return 1;
}

int dims_may_equal(const Dag *g, int64_t a, int64_t b) {
  if (a == b || a >= 0 || b >= 0 || (!dim_is_derived(a) && !dim_is_derived(b)))
    return 0;
  Lin fa, fb;
  if (!lin_of(g, a, &fa) || !lin_of(g, b, &fb))
    return 1;
  /* the difference a - b: provably nonzero if its terms all have one sign
   * and its least value (of that sign) is above 0 */
  for (int k = 0; k < fb.n; k++) {
    int found = 0;
    for (int j = 0; j < fa.n && !found; j++)
      if (fa.atom[j] == fb.atom[k]) {
        fa.mul[j] -= fb.mul[k];
        found = 1;
      }
    if (!found) {
      fa.atom[fa.n] = fb.atom[k];
      fa.mul[fa.n++] = -fb.mul[k];
    }
  }
  fa.add -= fb.add;
  for (int sgn = 1; sgn >= -1; sgn -= 2) {
    int64_t lo = sgn * fa.add;
    int ok = 1;
    for (int k = 0; k < fa.n && ok; k++) {
      if (sgn * fa.mul[k] < 0)
        ok = 0;
      else
        lo = sat_fma(lo, sgn * fa.mul[k], dim_min(g, fa.atom[k]));
    }
    if (ok && lo > 0)
      return 0;
  }
  return 1;
}

void shape_format(const Dag *g, ShapeId s, char *out, size_t n) {
  const Shape *x = shape_get(g, s);
  size_t k = 0;
  if (x->rank == 0) {
    snprintf(out, n, "scalar");
    return;
  }
  k += (size_t)snprintf(out + k, n - k, "(");
  for (int i = 0; i < x->rank && k < n; i++) {
    char d[128];
    dim_format(g, x->dim[i], d, sizeof d);
    k += (size_t)snprintf(out + k, n - k, "%s%s", i ? ", " : "", d);
  }
  if (k < n)
    snprintf(out + k, n - k, ")");
}

int shape_has_symbols(const Dag *g, ShapeId s) {
  const Shape *x = shape_get(g, s);
  for (int i = 0; i < x->rank; i++)
    if (x->dim[i] < 0)
      return 1;
  return 0;
}

int64_t shape_size(const Dag *g, ShapeId s) {
  const Shape *x = shape_get(g, s);
  int64_t n = 1;
  for (int i = 0; i < x->rank; i++) {
    if (x->dim[i] < 0)
      return -1;
    n *= x->dim[i];
  }
  return n;
}

NodeId shape_unbroadcast(Dag *g, NodeId adj, ShapeId to) {
  if (adj == NO_NODE || dag_shape(g, adj) == to)
    return adj;
  if (to == SHAPE_SCALAR)
    return dag_sum(g, adj, -1);
  /* sum the leading dimensions that `to` does not have */
  while (adj != NO_NODE && shape_rank(g, dag_shape(g, adj)) > shape_rank(g, to))
    adj = dag_sum(g, adj, 0);
  if (adj == NO_NODE)
    return NO_NODE;
  /* then the dimensions where `to` has 1 */
  Shape t = *shape_get(g, to); /* a copy: interning a shape may move the table */
  for (int i = 0; i < t.rank && adj != NO_NODE; i++) {
    const Shape *a = shape_get(g, dag_shape(g, adj));
    if (t.dim[i] == 1 && a->dim[i] != 1) {
      ShapeId keep = shape_keepdims(g, dag_shape(g, adj), i);
      adj = dag_reshape(g, dag_sum(g, adj, i), keep);
    }
  }
  /* two symbolic sizes that are equal at call time: the same memory */
  if (adj != NO_NODE && dag_shape(g, adj) != to)
    adj = dag_bcast(g, adj, to);
  return adj;
}
