/* emit --sparse of examples/sparse/broyden_banded_residual.expr at N = 12 */
#include "driver_common.h"
#include "bb.h"

int main(void) {
  double x[12];
  for (int i = 0; i < 12; i++)
    x[i] = -1 + 0.1 * i;
  long nrow, ncol;
  const long *cp, *ri;
  long nnz = bb_r_jac_sparse_pattern(&nrow, &ncol, &cp, &ri);
  CHECK(nrow == 12 && ncol == 12 && cp[ncol] == nnz);
  double *nz = malloc((size_t)nnz * sizeof *nz);
  CHECK(bb_r_jac_sparse(12, x, nz, NULL) == 0);
  print_csc(nrow, ncol, cp, ri, nz);
  free(nz);
  return 0;
}
