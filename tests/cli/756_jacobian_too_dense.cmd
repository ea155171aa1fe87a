jacobian tests/cli/data/dense_jacobian.expr N=100000
