/* The sparse functions of `emit --abi array --sparse` (the array ABI, as
 * CasADi's generated code), driven only through their queries: built with
 * -DFN=prefix_F_jac_sparse (or _hess_sparse) -DN=size; argv[1..] are the
 * values of the first variable (the others are 0), at N. Prints the
 * nonzeros as driver_common.h does ("row col value", 17 digits with -x
 * first), and checks a caller's workspace gives the same bits, other sizes
 * return -2, and the queries describe the arguments and the result. */
#include <string.h>

#include "driver_common.h"
#include HEADER

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

int main(int argc, char **argv) {
  int exact = argc > 1 && !strcmp(argv[1], "-x");
  argv += exact, argc -= exact;
  long dims[1] = {N}, other[1] = {N + 1}, shape[4];
  int nin = CAT(FN, _n_in)();
  CHECK(nin >= 1 && CAT(FN, _n_out)() == 1);
  CHECK(CAT(FN, _name_in)(nin) == NULL && strcmp(CAT(FN, _name_out)(0), "nz") == 0);
  const double **arg = calloc((size_t)nin, sizeof *arg);
  CHECK(arg != NULL);
  for (int i = 0; i < nin; i++) {
    int rank = CAT(FN, _shape_in)(i, dims, shape);
    long n = 1;
    CHECK(rank >= 0 && rank <= 4);
    for (int j = 0; j < rank; j++)
      n *= shape[j];
    double *v = calloc((size_t)n + 1, sizeof *v);
    CHECK(v != NULL);
    for (long k = 0; i == 0 && k < n && k + 1 < argc; k++)
      v[k] = atof(argv[k + 1]);
    arg[i] = v;
  }
  CHECK(CAT(FN, _shape_in)(nin, dims, shape) == -1);
  long nrow, ncol;
  const long *cp, *ri;
  long nnz = CAT(FN, _pattern)(&nrow, &ncol, &cp, &ri);
  CHECK(CAT(FN, _shape_out)(0, dims, shape) == 1 && shape[0] == nnz && cp[ncol] == nnz);
  double *nz = malloc((size_t)nnz * sizeof *nz), *nz2 = malloc((size_t)nnz * sizeof *nz2);
  double *work = malloc((size_t)CAT(FN, _work)(dims) * sizeof *work);
  CHECK(nz && nz2 && work);
  double *res[1] = {nz}, *res2[1] = {nz2};
  CHECK(FN(arg, res, dims, NULL) == 0);
  CHECK(FN(arg, res2, dims, work) == 0);
  for (long k = 0; k < nnz; k++)
    CHECK(memcmp(&nz[k], &nz2[k], sizeof nz[k]) == 0);
  CHECK(FN(arg, res2, other, NULL) == -2);
  if (exact) {
    for (long j = 0; j < ncol; j++)
      for (long k = cp[j]; k < cp[j + 1]; k++)
        printf("%ld %ld %.17g\n", ri[k], j, nz[k]);
  } else {
    print_csc(nrow, ncol, cp, ri, nz);
  }
  for (int i = 0; i < nin; i++)
    free((void *)arg[i]);
  free(arg);
  free(nz);
  free(nz2);
  free(work);
  return 0;
}
