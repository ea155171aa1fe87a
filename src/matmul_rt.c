/* matmul_rt.c: the product of two matrices for libtcc's code, compiled
 * with gradc (gcc -O2) instead of by tcc, which keeps every variable in
 * memory: a [64, 1000] by [1000, 1000] product (a vector-mode tangent,
 * vector.c) takes about 4 ns per multiply-add in tcc's loops, 20 times
 * this. It computes exactly what the emitted loops compute (emit_c.c,
 * matmul_loop): every C[i][j] is 0.0 plus the products op(A)[i][p] *
 * op(B)[p][j] added one at a time in increasing p, multiplied and added
 * separately (no fused multiply-add: -ffp-contract=off for this file), so
 * the bits are the same and only the order of independent elements
 * differs: blocks of columns of C and of rows of op(B) (p still
 * increasing for each element) so that they stay in cache, and runs of j
 * that the compiler vectorises, AVX where the CPU has it. */
#include <stdlib.h>
#include <string.h>

#include "ir.h"

enum { JB = 256, PB = 128 }; /* columns of C and rows of op(B) per block */

/* c[0..n) += a * b[0..n): n independent elements, each one product added */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx", "default")))
#endif
static void axpy_row(double *restrict c, double a, const double *restrict b, long n) {
  for (long j = 0; j < n; j++)
    c[j] += a * b[j];
}

void gradc_rt_matmul(long m, long n, long k, const double *A, long lda, int ta, const double *B,
                     long ldb, int tb, double *C) {
  for (long i = 0; i < m * n; i++)
    C[i] = 0.0;
  /* rows of op(B) contiguous in j: B itself, or B' packed a block at a time */
  double *pack = tb ? malloc((size_t)(k < PB ? k : PB) * (size_t)(n < JB ? n : JB) * sizeof *pack + 1) : NULL;
  for (long j0 = 0; j0 < n; j0 += JB) {
    long nj = n - j0 < JB ? n - j0 : JB;
    for (long p0 = 0; p0 < k; p0 += PB) {
      long np = k - p0 < PB ? k - p0 : PB;
      const double *rows = B + p0 * ldb + j0; /* op(B)[p0 + q][j0 + j] = rows[q*stride + j] */
      long stride = ldb;
      if (tb && pack) {
        for (long q = 0; q < np; q++)
          for (long j = 0; j < nj; j++)
            pack[q * nj + j] = B[(j0 + j) * ldb + p0 + q];
        rows = pack;
        stride = nj;
      }
      for (long i = 0; i < m; i++) {
        double *c = C + i * n + j0;
        for (long q = 0; q < np; q++) {
          double a = ta ? A[(p0 + q) * lda + i] : A[i * lda + p0 + q];
          if (tb && !pack) /* no memory for the packed block: read B' in place */
            for (long j = 0; j < nj; j++)
              c[j] += a * B[(j0 + j) * ldb + p0 + q];
          else
            axpy_row(c, a, rows + q * stride, nj);
        }
      }
    }
  }
  free(pack);
}
