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
 * increasing for each element) so that they stay in cache, and tiles of
 * 4 x 8 elements of C held in vector registers, AVX where the CPU has it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "../runtime/gradc_rt.h"

enum { JB = 256, PB = 128 }; /* columns of C and rows of op(B) per block */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CLONES __attribute__((target_clones("avx", "default")))
#else
#define CLONES
#endif

typedef double v4 __attribute__((vector_size(32)));

/* (macros: a function returning a 32-byte vector would change the ABI
 * between the clones) */
#define LOAD4(v, p) memcpy(&(v), (p), sizeof(v))
#define STORE4(p, v) memcpy((p), &(v), sizeof(v))

/* A 4 x 8 tile of C (rows of ldc) kept in registers while np products are
 * added to each element, in order: a[r*arow + q*astep] is op(A)'s row r,
 * b[q*ldb + j] op(B)'s column j. */
CLONES static void tile(double *restrict c, long ldc, const double *a, long arow, long astep,
                        const double *restrict b, long ldb, long np) {
  v4 c00, c01, c10, c11, c20, c21, c30, c31;
  LOAD4(c00, c), LOAD4(c01, c + 4), LOAD4(c10, c + ldc), LOAD4(c11, c + ldc + 4);
  LOAD4(c20, c + 2 * ldc), LOAD4(c21, c + 2 * ldc + 4), LOAD4(c30, c + 3 * ldc), LOAD4(c31, c + 3 * ldc + 4);
  for (long q = 0; q < np; q++) {
    v4 b0, b1;
    LOAD4(b0, b + q * ldb), LOAD4(b1, b + q * ldb + 4);
    double y0 = a[q * astep], y1 = a[arow + q * astep], y2 = a[2 * arow + q * astep], y3 = a[3 * arow + q * astep];
    v4 x0 = {y0, y0, y0, y0}, x1 = {y1, y1, y1, y1}, x2 = {y2, y2, y2, y2}, x3 = {y3, y3, y3, y3};
    c00 = c00 + x0 * b0, c01 = c01 + x0 * b1;
    c10 = c10 + x1 * b0, c11 = c11 + x1 * b1;
    c20 = c20 + x2 * b0, c21 = c21 + x2 * b1;
    c30 = c30 + x3 * b0, c31 = c31 + x3 * b1;
  }
  STORE4(c, c00), STORE4(c + 4, c01), STORE4(c + ldc, c10), STORE4(c + ldc + 4, c11);
  STORE4(c + 2 * ldc, c20), STORE4(c + 2 * ldc + 4, c21), STORE4(c + 3 * ldc, c30), STORE4(c + 3 * ldc + 4, c31);
}

/* The columns of a 4-row tile past the last multiple of 8 (nr < 8 of
 * them, such as the 2 of a product with 10 columns): each column's 4
 * elements held in registers while the np products are added in order,
 * instead of a call of axpy_row per row and product. */
CLONES static void tile_narrow(double *restrict c, long ldc, const double *a, long arow, long astep,
                               const double *restrict b, long ldb, long np, long nr) {
  for (long j = 0; j < nr; j++) {
    double c0 = c[j], c1 = c[ldc + j], c2 = c[2 * ldc + j], c3 = c[3 * ldc + j];
    for (long q = 0; q < np; q++) {
      double y = b[q * ldb + j];
      c0 = c0 + a[q * astep] * y;
      c1 = c1 + a[arow + q * astep] * y;
      c2 = c2 + a[2 * arow + q * astep] * y;
      c3 = c3 + a[3 * arow + q * astep] * y;
    }
    c[j] = c0, c[ldc + j] = c1, c[2 * ldc + j] = c2, c[3 * ldc + j] = c3;
  }
}

/* c[0..n) += a * b[0..n): n independent elements, each one product added */
CLONES static void axpy_row(double *restrict c, double a, const double *restrict b, long n) {
  for (long j = 0; j < n; j++)
    c[j] += a * b[j];
}

void gradc_rt_matmul(long m, long n, long k, const double *A, long lda, int ta, const double *B,
                     long ldb, int tb, double *C) {
  for (long i = 0; i < m * n; i++)
    C[i] = 0.0;
  /* rows of op(B) contiguous in j: B itself, or B' packed a block at a time */
  double *pack = tb ? malloc((size_t)(k < PB ? k : PB) * (size_t)(n < JB ? n : JB) * sizeof *pack + 1) : NULL;
  long arow = ta ? 1 : lda, astep = ta ? lda : 1; /* op(A)[i][p] = A[i*arow + p*astep] */
  for (long j0 = 0; j0 < n; j0 += JB) {
    long nj = n - j0 < JB ? n - j0 : JB;
    for (long p0 = 0; p0 < k; p0 += PB) {
      long np = k - p0 < PB ? k - p0 : PB;
      const double *rows = B + p0 * ldb + j0; /* op(B)[p0 + q][j0 + j] = rows[q*stride + j] */
      long stride = ldb;
      if (tb && !pack) { /* no memory for a packed block: the plain loops */
        for (long i = 0; i < m; i++)
          for (long q = 0; q < np; q++) {
            double a = A[i * arow + (p0 + q) * astep];
            for (long j = 0; j < nj; j++)
              C[i * n + j0 + j] += a * B[(j0 + j) * ldb + p0 + q];
          }
        continue;
      }
      if (tb) {
        for (long q = 0; q < np; q++)
          for (long j = 0; j < nj; j++)
            pack[q * nj + j] = B[(j0 + j) * ldb + p0 + q];
        rows = pack;
        stride = nj;
      }
      long i = 0, nj8 = nj - nj % 8;
      for (; i + 4 <= m; i += 4) {
        const double *a = A + i * arow + p0 * astep;
        for (long j = 0; j < nj8; j += 8)
          tile(C + i * n + j0 + j, n, a, arow, astep, rows + j, stride, np);
        if (nj8 < nj)
          tile_narrow(C + i * n + j0 + nj8, n, a, arow, astep, rows + nj8, stride, np, nj - nj8);
      }
      for (; i < m; i++)
        for (long q = 0; q < np; q++)
          axpy_row(C + i * n + j0, A[i * arow + (p0 + q) * astep], rows + q * stride, nj);
    }
  }
  free(pack);
}

/* tanh for libtcc's code (emit_c.c): runtime/gradc_rt.h's g_tanh compiled
 * here with gcc -O2 and no contraction, as the cc backend compiles it in
 * the emitted C: the same bits, at gcc's speed rather than tcc's. */
GRADC_RT_TANH
double gradc_rt_tanh(double x) { return g_tanh(x); }

/* sigmoid for libtcc's code, likewise: gcc's code for the generated file's
 * g_sigmoid (the same IEEE operations and libm's exp: the same bits), and
 * a call that x86_parts.c translates (units with sigmoid no longer go to
 * libtcc, whose code reloads every operand's base from the stack). */
GRADC_RT_SIGMOID
double gradc_rt_sigmoid(double x) { return g_sigmoid(x); }
