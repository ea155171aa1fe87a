/* driver_common.h: print the nonzeros of a CSC matrix (P_F_..._pattern
 * and the values of P_F_..._sparse) as `gradc jacobian --sparse` does:
 * "row col value" lines in row-major order, values with 10 digits. */
#include <stdio.h>
#include <stdlib.h>

static void print_csc(long nrow, long ncol, const long *colptr, const long *rowind, const double *nz) {
  for (long i = 0; i < nrow; i++)
    for (long j = 0; j < ncol; j++)
      for (long k = colptr[j]; k < colptr[j + 1]; k++)
        if (rowind[k] == i)
          printf("%ld %ld %.10g\n", i, j, nz[k]);
}

#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      exit(1);                                                         \
    }                                                                  \
  } while (0)
