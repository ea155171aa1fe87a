/* landscape.c: a scalar output on a line or a plane through the params,
 * the pictures of the landscape of the cost function: seeded random
 * directions, filter-normalised as in Li et al., "Visualizing the Loss
 * Landscape of Neural Nets" (NeurIPS 2018), and the straight line between
 * two points in param space of Goodfellow, Vinyals and Saxe, "Qualitatively
 * characterizing neural network optimization problems" (ICLR 2015).
 *
 * Every point is one call of the compiled value function of that output
 * alone (gradc_fn_value_of: the other outputs are not computed)
 * with the params' arrays replaced, so a value here is the value that
 * `gradc eval` prints at the same params, to the last bit. This file is
 * compiled with -ffp-contract=off: p = c + a d1 + b d2 is evaluated as
 * written, never as fused multiply-adds, so a caller can rebuild it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

/* The params in declaration order, with their current values. */
typedef struct Params {
  int n;
  int *var;
  const double **val;
  long *size, *rows;  /* elements; filters (first dimension, rank >= 2) or 0 */
} Params;

static void params_free(Params *p) {
  free(p->var);
  free(p->val);
  free(p->size);
  free(p->rows);
}

static GradcStatus params_get(Gradc *g, Params *p) {
  int nv = gradc_var_count(g);
  memset(p, 0, sizeof *p);
  p->var = malloc(((size_t)nv + 1) * sizeof *p->var);
  p->val = malloc(((size_t)nv + 1) * sizeof *p->val);
  p->size = malloc(((size_t)nv + 1) * sizeof *p->size);
  p->rows = malloc(((size_t)nv + 1) * sizeof *p->rows);
  if (!p->var || !p->val || !p->size || !p->rows) {
    params_free(p);
    return GRADC_ERR_NOMEM;
  }
  for (int i = 0; i < nv; i++) {
    if (!gradc_var_is_param(g, i))
      continue;
    long dims[8];
    int rank;
    const double *v = gradc_get_value(g, i, dims, &rank);
    if (!v) {
      gradc_error(g, GRADC_ERR_USAGE, "the param '%s' has no value", gradc_var_name(g, i));
      params_free(p);
      return GRADC_ERR_USAGE;
    }
    long n = 1;
    for (int d = 0; d < rank; d++)
      n *= dims[d];
    p->var[p->n] = i;
    p->val[p->n] = v;
    p->size[p->n] = n;
    p->rows[p->n] = rank >= 2 ? dims[0] : 0;
    p->n++;
  }
  return GRADC_OK;
}

static double dot(const Params *p, const double *const *x, const double *const *y) {
  double s = 0;
  for (int k = 0; k < p->n; k++)
    for (long e = 0; e < p->size[k]; e++)
      s += x[k][e] * y[k][e];
  return s;
}

GradcStatus gradc_direction_random(Gradc *g, unsigned long long seed, int k,
                                   const double *const *against, double *const *dir,
                                   GradcDirectionKind *kind) {
  Params p;
  GradcStatus st = params_get(g, &p);
  if (st != GRADC_OK)
    return st;
  if (p.n == 0) {
    gradc_error(g, GRADC_ERR_INPUT, "there is no param to move");
    params_free(&p);
    return GRADC_ERR_INPUT;
  }
  uint64_t s = seed * 0x9e3779b97f4a7c15ull + (uint64_t)(k + 1) * 0xc2b2ae3d27d4eb4full + 0x1f83d9abfb41bd6bull;
  int filters = 0;
  for (int q = 0; q < p.n; q++)
    filters |= p.rows[q] > 0;
  if (kind)
    *kind = filters ? GRADC_DIRECTION_FILTER : GRADC_DIRECTION_UNIT;
  double norm2 = 0;
  if (filters) { /* Li et al. 2018: each filter to the norm of the params' filter */
    for (int q = 0; q < p.n; q++) {
      if (p.rows[q] == 0) {
        memset(dir[q], 0, (size_t)p.size[q] * sizeof **dir);
        continue;
      }
      long len = p.size[q] / p.rows[q];
      for (long r = 0; r < p.rows[q]; r++) {
        double *d = dir[q] + r * len;
        const double *v = p.val[q] + r * len;
        double dn = 0, vn = 0;
        for (long e = 0; e < len; e++) {
          d[e] = values_normal(&s);
          dn += d[e] * d[e];
          vn += v[e] * v[e];
        }
        double scale = dn > 0 ? sqrt(vn) / sqrt(dn) : 0;
        for (long e = 0; e < len; e++) {
          d[e] *= scale;
          norm2 += d[e] * d[e];
        }
      }
    }
    if (!(norm2 > 0))
      gradc_error(g, GRADC_ERR_INPUT,
                  "the random direction is zero: filter normalisation scales each row of a weight "
                  "matrix to the norm of the same row of the params, and every such row is zero here");
  } else { /* no filters: Gaussian over every element, orthogonal to `against` */
    for (int q = 0; q < p.n; q++)
      for (long e = 0; e < p.size[q]; e++)
        dir[q][e] = values_normal(&s);
    double length = 1;
    if (against) {
      double aa = dot(&p, against, against);
      if (aa > 0) {
        double t = dot(&p, (const double *const *)dir, against) / aa;
        for (int q = 0; q < p.n; q++)
          for (long e = 0; e < p.size[q]; e++)
            dir[q][e] -= t * against[q][e];
        length = sqrt(aa);
      }
    }
    norm2 = dot(&p, (const double *const *)dir, (const double *const *)dir);
    /* with one element, nothing is orthogonal to `against`: what is left is rounding */
    long total = 0;
    for (int q = 0; q < p.n; q++)
      total += p.size[q];
    if (!(norm2 > 0) || (against && total < 2)) {
      norm2 = 0;
      gradc_error(g, GRADC_ERR_INPUT, "no direction is orthogonal to the first: the params have one element");
    } else {
      double scale = length / sqrt(norm2);
      for (int q = 0; q < p.n; q++)
        for (long e = 0; e < p.size[q]; e++)
          dir[q][e] *= scale;
    }
  }
  params_free(&p);
  return norm2 > 0 ? GRADC_OK : GRADC_ERR_INPUT;
}

GradcStatus gradc_landscape(Gradc *g, int out, const double *const *d1, const double *const *end,
                            const double *const *d2, const double *alpha, long na,
                            const double *beta, long nb, double *values,
                            void (*progress)(void *opaque, long done, long total), void *opaque) {
  long odims[8];
  if (out < 0 || out >= gradc_output_count(g) || gradc_output_shape(g, out, odims) != 0) {
    gradc_error(g, GRADC_ERR_USAGE, "a landscape needs a scalar output");
    return GRADC_ERR_USAGE;
  }
  if (!d1 == !end || !alpha || na < 1 || !values || (d2 && (!beta || nb < 1))) {
    gradc_error(g, GRADC_ERR_USAGE, "gradc_landscape: give d1 or end, alpha, values (and beta with d2)");
    return GRADC_ERR_USAGE;
  }
  if (!d2)
    nb = 1;
  GradcFn *f = gradc_fn_value_of(g, out);
  if (!f)
    return GRADC_ERR_INPUT;
  Params p;
  GradcStatus st = params_get(g, &p);
  if (st != GRADC_OK)
    return st;
  int nv = gradc_var_count(g), nres = gradc_fn_res_count(f), ndims = gradc_dim_count(g);
  const double **args = calloc((size_t)nv + 1, sizeof *args);
  double **res = calloc((size_t)nres + 1, sizeof *res);
  double **buf = calloc((size_t)p.n + 1, sizeof *buf);
  long *dimv = calloc((size_t)ndims + 1, sizeof *dimv);
  st = args && res && buf && dimv ? GRADC_OK : GRADC_ERR_NOMEM;
  for (int i = 0; st == GRADC_OK && i < nv; i++) {
    args[i] = gradc_get_value(g, i, NULL, NULL);
    if (!args[i]) {
      gradc_error(g, GRADC_ERR_USAGE, "'%s' has no value", gradc_var_name(g, i));
      st = GRADC_ERR_USAGE;
    }
  }
  for (int q = 0; st == GRADC_OK && q < p.n; q++) {
    buf[q] = malloc((size_t)(p.size[q] > 0 ? p.size[q] : 1) * sizeof **buf);
    args[p.var[q]] = buf[q];
    st = buf[q] ? GRADC_OK : GRADC_ERR_NOMEM;
  }
  for (int r = 0; st == GRADC_OK && r < nres; r++) {
    long dims[8], n = 1;
    int rank = gradc_fn_res_shape(f, r, dims);
    for (int d = 0; d < rank; d++)
      n *= dims[d];
    res[r] = malloc((size_t)(n > 0 ? n : 1) * sizeof **res);
    st = res[r] ? GRADC_OK : GRADC_ERR_NOMEM;
  }
  for (int k = 0; k < ndims && dimv; k++)
    dimv[k] = gradc_dim_value(g, k);
  long total = na * nb, done = 0;
  for (long j = 0; st == GRADC_OK && j < nb; j++)
    for (long i = 0; st == GRADC_OK && i < na; i++) {
      double a = alpha[i], b = d2 ? beta[j] : 0;
      for (int q = 0; q < p.n; q++) {
        const double *c = p.val[q];
        double *x = buf[q];
        long n = p.size[q];
        if (end)
          for (long e = 0; e < n; e++)
            x[e] = (1 - a) * c[e] + a * end[q][e];
        else
          for (long e = 0; e < n; e++)
            x[e] = c[e] + a * d1[q][e];
        if (d2)
          for (long e = 0; e < n; e++)
            x[e] = x[e] + b * d2[q][e];
      }
      st = gradc_call_dims(f, ndims ? dimv : NULL, args, res);
      if (st == GRADC_OK) {
        values[j * na + i] = res[0][0];
        if (progress)
          progress(opaque, ++done, total);
      }
    }
  for (int q = 0; buf && q < p.n; q++)
    free(buf[q]);
  for (int r = 0; res && r < nres; r++)
    free(res[r]);
  free(buf);
  free(res);
  free(args);
  free(dimv);
  params_free(&p);
  return st;
}
