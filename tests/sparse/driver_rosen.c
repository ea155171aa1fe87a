/* emit --sparse of examples/sparse/chained_rosenbrock.expr at N = 6 */
#include "driver_common.h"
#include "rs.h"

int main(void) {
  double x[6] = {1, -1, 0.5, 2, -0.25, 0.75};
  long nrow, ncol;
  const long *cp, *ri;
  long nnz = rs_f_hess_sparse_pattern(&nrow, &ncol, &cp, &ri);
  CHECK(nrow == 6 && ncol == 6 && nnz == 3 * 6 - 2 && cp[ncol] == nnz);
  double *nz = malloc((size_t)nnz * sizeof *nz), *nz2 = malloc((size_t)nnz * sizeof *nz2);
  double *work = malloc((size_t)rs_f_hess_sparse_work(6) * sizeof *work);
  CHECK(rs_f_hess_sparse(6, x, nz, NULL) == 0);
  CHECK(rs_f_hess_sparse(6, x, nz2, work) == 0); /* a caller's workspace: the same */
  for (long k = 0; k < nnz; k++)
    CHECK(nz[k] == nz2[k]);
  CHECK(rs_f_hess_sparse(7, x, nz2, NULL) == -2); /* other sizes: refused */
  print_csc(nrow, ncol, cp, ri, nz);
  free(nz);
  free(nz2);
  free(work);
  return 0;
}
