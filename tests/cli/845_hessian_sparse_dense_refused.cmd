hessian --sparse tests/cli/data/s85_dense.expr N=20000
