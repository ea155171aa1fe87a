/* abi_10k.c: a program that calls a function of 10^4 scalar variables
 * through the array ABI, as a user of `gradc emit --abi array` would: it
 * finds each argument and result by name (x123, df/dx123), checks that
 * they are scalars, and calls r10k_f_grad and r10k_f_jvp with arrays of
 * pointers instead of 20,001 parameters.
 *
 * r10k.h is generated (abi_10k.sh) from the unrolled chained Rosenbrock
 *   f = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2,  n = 10^4,
 * declared as `param x0, x1, ..., x9999`. The value and gradient are
 * checked against the same formulas written by hand here (relative 1e-12:
 * the order of the additions may differ), and the JVP along the gradient
 * against |gradient|^2. Prints what it checked; exit 1 on a difference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r10k.h"

enum { N = 10000 };

/* "x123" (prefix "x") or "df/dx123" (prefix "df/dx") -> 123, else -1 */
static long index_of(const char *name, const char *prefix) {
  size_t k = strlen(prefix);
  if (!name || strncmp(name, prefix, k) || !name[k])
    return -1;
  char *end;
  long i = strtol(name + k, &end, 10);
  return *end || i < 0 || i >= N ? -1 : i;
}

int main(void) {
  static double x[N], g[N], ref[N], v[N];
  static const double *arg[2 * N];
  static double *res[N + 1];
  double f, fref = 0, dot, f2;
  long shape[4];
  int bad = 0;

  int nin = r10k_f_grad_n_in(), nout = r10k_f_grad_n_out();
  if (nin != N || nout != N + 1) {
    printf("r10k_f_grad has %d arguments and %d results, want %d and %d\n", nin, nout, N, N + 1);
    return 1;
  }
  for (long i = 0; i < N; i++)
    x[i] = (i % 2 ? 1.0 : -1.2) + 1e-4 * (double)(i % 97);
  for (int k = 0; k < nin; k++) { /* arguments by name */
    long i = index_of(r10k_f_grad_name_in(k), "x");
    if (i < 0 || r10k_f_grad_shape_in(k, NULL, shape) != 0) {
      printf("argument %d is '%s', not a scalar x<i>\n", k, r10k_f_grad_name_in(k));
      return 1;
    }
    arg[k] = &x[i];
  }
  for (int k = 0; k < nout; k++) { /* results by name: f, then df/dx<i> */
    const char *name = r10k_f_grad_name_out(k);
    long i = index_of(name, "df/dx");
    if (k == 0 ? !name || strcmp(name, "f") : i < 0) {
      printf("result %d is '%s'\n", k, name ? name : "(null)");
      return 1;
    }
    res[k] = k == 0 ? &f : &g[i];
  }
  long nw = r10k_f_grad_work(NULL);
  double *work = malloc(((size_t)(nw > 0 ? nw : 0) + 1) * sizeof *work);
  if (!work || r10k_f_grad(arg, res, NULL, work) != 0) {
    printf("r10k_f_grad failed\n");
    return 1;
  }

  /* the same by hand */
  for (long i = 0; i < N; i++)
    ref[i] = 0;
  for (long i = 0; i + 1 < N; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    fref += 100 * a * a + b * b;
    ref[i] += -400 * a * x[i] - 2 * b;
    ref[i + 1] += 200 * a;
  }
  double worst = fabs(f - fref) / fabs(fref), scale = 0;
  for (long i = 0; i < N; i++)
    scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
  for (long i = 0; i < N; i++) {
    double e = fabs(g[i] - ref[i]) / scale;
    worst = e > worst ? e : worst;
  }
  printf("r10k_f_grad: %d scalar arguments and %d results found by name; f = %.17g\n", nin, nout, f);
  printf("  value and gradient against the hand-written ones: largest relative difference %.2e\n",
         worst);
  bad |= !(worst <= 1e-12);

  /* the JVP along the gradient: df = g . g */
  if (r10k_f_jvp_n_in() != 2 * N || r10k_f_jvp_n_out() != 2) {
    printf("r10k_f_jvp has %d arguments and %d results\n", r10k_f_jvp_n_in(), r10k_f_jvp_n_out());
    return 1;
  }
  for (int k = 0; k < 2 * N; k++) {
    const char *name = r10k_f_jvp_name_in(k);
    long i = k < N ? index_of(name, "x") : index_of(name, "tangent of x");
    if (i < 0) {
      printf("jvp argument %d is '%s'\n", k, name ? name : "(null)");
      return 1;
    }
    v[i] = g[i];
    arg[k] = k < N ? &x[i] : &v[i];
  }
  double *res2[2] = {&f2, &dot};
  if (r10k_f_jvp(arg, res2, NULL, NULL) != 0) {
    printf("r10k_f_jvp failed\n");
    return 1;
  }
  double gg = 0;
  for (long i = 0; i < N; i++)
    gg += g[i] * g[i];
  double e = fabs(dot - gg) / gg;
  printf("r10k_f_jvp along the gradient: %.17g, |gradient|^2 %.17g (relative %.2e); value %s\n", dot,
         gg, e, memcmp(&f, &f2, sizeof f) ? "differs" : "the same bits");
  bad |= !(e <= 1e-12) || memcmp(&f, &f2, sizeof f);
  free(work);
  return bad;
}
