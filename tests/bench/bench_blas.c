/* bench_blas.c: where OpenBLAS's cblas_dgemm starts to beat gradc's own
 * loops, the size below which matrix products stay loops (emit_c.c,
 * BLAS_MIN_MNK). For products C[m,n] = A[m,k] @ B[k,n] of growing
 * m*n*k (cubes and the skinny shapes of a network over a batch), the CPU
 * time per product of
 *   - cblas_dgemm, one thread (OPENBLAS_NUM_THREADS unless set),
 *   - gradc_rt_matmul (what libtcc's code calls, matmul_rt.c),
 *   - the loops the cc backend emits (row of C += A[i][p] * row p of B),
 *     compiled here with the project's -O2,
 * each as a ratio to cblas_dgemm (above 1: BLAS is faster).
 *   bench_blas [--quick] [--json FILE] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ir.h"

void openblas_set_num_threads(int);

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* the cc backend's emitted form of a product read along B's rows */
__attribute__((noinline)) static void loops(long m, long n, long k, const double *A, const double *B,
                                            double *C) {
  for (long i = 0; i < m; i++) {
    double *row = C + i * n;
    for (long j = 0; j < n; j++)
      row[j] = 0.0;
    for (long p = 0; p < k; p++) {
      double a = A[i * k + p];
      for (long j = 0; j < n; j++)
        row[j] += a * B[p * n + j];
    }
  }
}

static volatile double sink;

/* seconds per product of method w (0 BLAS, 1 rt, 2 loops): the median of 5
 * runs of enough products to take about budget seconds */
static double per_product(int w, long m, long n, long k, const double *A, const double *B, double *C,
                          double budget) {
  long reps = 1;
  double t[5];
  for (;;) {
    double s = cpu();
    for (long r = 0; r < reps; r++) {
      if (w == 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, A, (int)k, B,
                    (int)n, 0.0, C, (int)n);
      else if (w == 1)
        gradc_rt_matmul(m, n, k, A, k, 0, B, n, 0, C);
      else
        loops(m, n, k, A, B, C);
      sink += C[0];
    }
    double e = cpu() - s;
    if (e > budget / 5 || reps > (1L << 28))
      break;
    reps *= 2;
  }
  for (int i = 0; i < 5; i++) {
    double s = cpu();
    for (long r = 0; r < reps; r++) {
      if (w == 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0, A, (int)k, B,
                    (int)n, 0.0, C, (int)n);
      else if (w == 1)
        gradc_rt_matmul(m, n, k, A, k, 0, B, n, 0, C);
      else
        loops(m, n, k, A, B, C);
      sink += C[0];
    }
    t[i] = (cpu() - s) / (double)reps;
  }
  for (int i = 0; i < 5; i++) /* median */
    for (int j = i + 1; j < 5; j++)
      if (t[j] < t[i]) {
        double x = t[i];
        t[i] = t[j];
        t[j] = x;
      }
  return t[2];
}

int main(int argc, char **argv) {
  int quick = 0;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_blas [--quick] [--json FILE]\n");
      return 2;
    }
  }
  if (!getenv("OPENBLAS_NUM_THREADS"))
    openblas_set_num_threads(1);
  static const long shapes[][3] = {
      {2, 2, 2},     {4, 4, 4},     {6, 6, 6},      {8, 8, 8},     {12, 12, 12},  {16, 16, 16},
      {24, 24, 24},  {32, 32, 32},  {48, 48, 48},   {64, 64, 64},  {128, 128, 128},
      {32, 32, 1},   {64, 1, 64},   {1, 64, 64},    {16, 10, 32},  {150, 10, 4},  {150, 4, 10},
      {64, 32, 10},  {100, 32, 64}, {1797, 32, 64}, {1797, 10, 32}, {32, 64, 1797}, {10, 32, 1797},
  };
  int ns = (int)(sizeof shapes / sizeof *shapes);
  double budget = quick ? 0.002 : 0.05;
  FILE *jf = json ? fopen(json, "w") : NULL;
  if (jf)
    fprintf(jf, "{\"bench\": \"blas\", \"products\": [\n");
  printf("%6s %6s %6s %10s %12s %10s %10s\n", "m", "n", "k", "m*n*k", "BLAS ns", "rt/BLAS", "loops/BLAS");
  for (int s = 0; s < ns; s++) {
    long m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
    if (quick && m * n * k > 100000)
      continue;
    double *A = malloc((size_t)(m * k) * sizeof *A), *B = malloc((size_t)(k * n) * sizeof *B),
           *C = malloc((size_t)(m * n) * sizeof *C);
    if (!A || !B || !C)
      return 1;
    for (long i = 0; i < m * k; i++)
      A[i] = (double)(i % 7) * 0.25 - 0.5;
    for (long i = 0; i < k * n; i++)
      B[i] = (double)(i % 5) * 0.5 - 1.0;
    double tb = per_product(0, m, n, k, A, B, C, budget), tr = per_product(1, m, n, k, A, B, C, budget),
           tl = per_product(2, m, n, k, A, B, C, budget);
    printf("%6ld %6ld %6ld %10ld %12.1f %10.2f %10.2f\n", m, n, k, m * n * k, 1e9 * tb, tr / tb, tl / tb);
    if (jf)
      fprintf(jf, "%s  {\"m\": %ld, \"n\": %ld, \"k\": %ld, \"blas_s\": %.6g, \"rt_s\": %.6g, \"loops_s\": %.6g}",
              s ? ",\n" : "", m, n, k, tb, tr, tl);
    free(A);
    free(B);
    free(C);
  }
  if (jf) {
    fprintf(jf, "\n]}\n");
    fclose(jf);
  }
  return 0;
}
