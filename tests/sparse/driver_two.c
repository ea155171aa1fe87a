/* emit --sparse of tests/cli/data/s82_two.expr: a scalar param (its seed
 * passed by value), a vector and a scalar output (a VJP sweep) */
#include "driver_common.h"
#include "tw.h"

int main(int argc, char **argv) {
  double x[3] = {1, 2, 3}, w = 2, c[3] = {1, 0, 2};
  long nrow, ncol;
  const long *cp, *ri;
  long nnz;
  double nz[16];
  if (argc > 1 && argv[1][0] == 'r') {
    nnz = tw_r_jac_sparse_pattern(&nrow, &ncol, &cp, &ri);
    CHECK(nrow == 3 && ncol == 4 && nnz <= 16 && tw_r_jac_sparse(x, w, c, nz, NULL) == 0);
  } else if (argc > 1 && argv[1][0] == 's') {
    nnz = tw_s_jac_sparse_pattern(&nrow, &ncol, &cp, &ri);
    CHECK(nrow == 1 && ncol == 4 && nnz <= 16 && tw_s_jac_sparse(x, w, c, nz, NULL) == 0);
  } else {
    nnz = tw_s_hess_sparse_pattern(&nrow, &ncol, &cp, &ri);
    CHECK(nrow == 4 && ncol == 4 && nnz <= 16 && tw_s_hess_sparse(x, w, c, nz, NULL) == 0);
  }
  print_csc(nrow, ncol, cp, ri, nz);
  return 0;
}
