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
    else if (dims_may_equal(dx, dy)) /* two symbolic sizes: equal at call time (checked) */
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

void dim_format(const Dag *g, int64_t d, char *out, size_t n) {
  if (d >= 0) {
    snprintf(out, n, "%lld", (long long)d);
    return;
  }
  if (!dim_is_derived(d)) {
    snprintf(out, n, "%s", g->dimnames ? g->dimnames[~d] : "?");
    return;
  }
  const DimExpr *x = &g->dims[~d - DIM_DERIVED];
  char in[200];
  dim_format(g, x->base, in, sizeof in);
  int compound = strpbrk(in, "+-/") != NULL;
  char sum[240];
  if (x->add == 0)
    snprintf(sum, sizeof sum, "%s", in);
  else
    snprintf(sum, sizeof sum, compound && x->div == 1 ? "(%s)%+lld" : "%s%+lld", in, (long long)x->add);
  if (x->div == 1)
    snprintf(out, n, "%s", sum);
  else
    snprintf(out, n, x->add || compound ? "(%s)//%lld" : "%s//%lld", sum, (long long)x->div);
}

int64_t dim_derive(Dag *g, int64_t base, int64_t add, int64_t div) {
  if (div < 1)
    div = 1;
  if (base >= 0) {
    int64_t t = base + add;
    return t > 0 ? t / div : 0;
  }
  if (add == 0 && div == 1)
    return base;
  if (dim_is_derived(base) && div == 1 && add <= 0) { /* (N - a) - b is N - (a + b) */
    const DimExpr *x = &g->dims[~base - DIM_DERIVED];
    if (x->div == 1 && x->add <= 0) {
      add += x->add;
      base = x->base;
    }
  }
  for (uint32_t j = 0; j < g->ndim; j++)
    if (g->dims[j].base == base && g->dims[j].add == add && g->dims[j].div == div)
      return ~(int64_t)(DIM_DERIVED + j);
  if (g->ndim == g->capdim) {
    uint32_t cap = g->capdim ? 2 * g->capdim : 8;
    DimExpr *n = realloc(g->dims, cap * sizeof *n);
    if (!n) {
      g->oom = 1;
      return 0;
    }
    g->dims = n;
    g->capdim = cap;
  }
  g->dims[g->ndim] = (DimExpr){base, add, div};
  return ~(int64_t)(DIM_DERIVED + g->ndim++);
}

long dim_eval(const Dag *g, int64_t d, const long *base) {
  if (d >= 0)
    return (long)d;
  if (!dim_is_derived(d))
    return base ? base[~d] : -1;
  const DimExpr *x = &g->dims[~d - DIM_DERIVED];
  long v = dim_eval(g, x->base, base);
  if (v < 0)
    return -1;
  long t = v + (long)x->add;
  return t > 0 ? t / (long)x->div : 0;
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
