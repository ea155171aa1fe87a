/* jacobian_vector.c: `gradc jacobian` in vector mode. Forward mode seeds K
 * unit tangents per call of gradc_fn_jvp_vector (K columns of the
 * Jacobian), reverse mode K unit cotangents per call of
 * gradc_fn_vjp_vector (K rows), so the primal values are computed n/K
 * times instead of n, and a product with a matrix is a matrix product. The
 * last call of a count that K does not divide has zero directions in its
 * spare rows (their results are dropped): one compiled function serves
 * every call. Uses only gradc.h, like the rest of the CLI. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Directions per call. The cost of a call is its primal part (the same
 * for any K) plus K times a tangent part, so a larger K shares the primal
 * part among more directions and makes the tangents' matrix products
 * bigger; memory is K times a direction's workspace. Measured with
 * tests/bench/bench_jacobian: see JACOBIAN_MAX_DIRECTIONS in cli.h. */
int jacobian_directions(GradcFn *fv, long n) {
  long k = JACOBIAN_MAX_DIRECTIONS;
  long w = fv ? gradc_fn_work_size(fv) : -1; /* doubles of primal intermediates */
  if (w > 0) { /* about as many again per direction: keep K of them under the budget */
    long cap = JACOBIAN_WORK_BUDGET / (long)sizeof(double) / (2 * w);
    if (cap < k)
      k = cap;
  }
  if (k > n)
    k = n;
  return k < 1 ? 1 : (int)k;
}

/* Every wrt variable and output leaves room for a leading axis. */
static int applies(Gradc *g, const int *wrt, int nwrt) {
  long dims[8];
  for (int k = 0; k < nwrt; k++)
    if (gradc_var_shape(g, wrt[k], dims) >= 4)
      return 0;
  for (int o = 0; o < gradc_output_count(g); o++)
    if (gradc_output_shape(g, o, dims) >= 4)
      return 0;
  return 1;
}

static int forward(Gradc *g, const int *wrt, int nwrt, const long *osize, const long *wsize,
                   double **block, GradcFn *fv) {
  int no = gradc_output_count(g);
  long n = 0;
  for (int k = 0; k < nwrt; k++)
    n += wsize[k];
  if (n == 0)
    return 0;
  int K = jacobian_directions(fv, n), rc = 0;
  GradcFn *f = gradc_fn_jvp_vector(g, wrt, nwrt, K);
  double **tan = calloc((size_t)nwrt + 1, sizeof *tan);
  int *var = malloc((size_t)K * sizeof *var);
  long *elem = malloc((size_t)K * sizeof *elem);
  if (!f || !tan || !var || !elem)
    rc = -1;
  for (int k = 0; !rc && k < nwrt; k++)
    if (!(tan[k] = calloc((size_t)(K * wsize[k]) + 1, sizeof **tan)))
      rc = -1;
  int k0 = 0;  /* the next column: element e0 of wrt variable k0 */
  long e0 = 0;
  for (long c0 = 0; !rc && c0 < n; c0 += K) {
    int nd = 0;
    for (; nd < K && k0 < nwrt; nd++) {
      while (k0 < nwrt && e0 >= wsize[k0])
        k0++, e0 = 0;
      if (k0 == nwrt)
        break;
      var[nd] = k0;
      elem[nd] = e0++;
      tan[k0][nd * wsize[k0] + elem[nd]] = 1;
    }
    rc = gradc_run(f, (const double *const *)tan) == GRADC_OK ? 0 : -1;
    for (int d = 0; d < nd; d++) {
      int k = var[d];
      long e = elem[d];
      tan[k][d * wsize[k] + e] = 0;
      for (int o = 0; !rc && o < no; o++) {
        const double *t = gradc_fn_res_data(f, no + o) + d * osize[o];
        double *b = block[o * nwrt + k];
        for (long i = 0; i < osize[o]; i++)
          b[i * wsize[k] + e] = t[i];
      }
    }
  }
  free_tangents(tan, nwrt);
  free(var);
  free(elem);
  return rc;
}

static int reverse(Gradc *g, const int *wrt, int nwrt, const long *osize, const long *wsize,
                   double **block, GradcFn *fv) {
  int no = gradc_output_count(g), rc = 0;
  for (int o = 0; !rc && o < no; o++) {
    if (osize[o] == 0)
      continue;
    int K = jacobian_directions(fv, osize[o]);
    GradcFn *f = gradc_fn_vjp_vector(g, o, wrt, nwrt, K);
    double *ct = calloc((size_t)(K * osize[o]) + 1, sizeof *ct);
    if (!f || !ct)
      rc = -1;
    for (long r0 = 0; !rc && r0 < osize[o]; r0 += K) {
      int nd = osize[o] - r0 < K ? (int)(osize[o] - r0) : K;
      for (int d = 0; d < nd; d++)
        ct[d * osize[o] + r0 + d] = 1;
      const double *args[1] = {ct};
      rc = gradc_run(f, args) == GRADC_OK ? 0 : -1;
      for (int d = 0; d < nd; d++)
        ct[d * osize[o] + r0 + d] = 0;
      for (int k = 0; !rc && k < nwrt; k++) {
        const double *a = gradc_fn_res_data(f, 1 + k);
        memcpy(block[o * nwrt + k] + r0 * wsize[k], a, (size_t)(nd * wsize[k]) * sizeof *a);
      }
    }
    free(ct);
  }
  return rc;
}

int jacobian_vector(Gradc *g, const int *wrt, int nwrt, int fwd, const long *osize,
                    const long *wsize, double **block, GradcFn *fv) {
  if (!applies(g, wrt, nwrt))
    return 1;
  return fwd ? forward(g, wrt, nwrt, osize, wsize, block, fv)
             : reverse(g, wrt, nwrt, osize, wsize, block, fv);
}
