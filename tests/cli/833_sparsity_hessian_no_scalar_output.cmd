sparsity --hessian tests/cli/data/s83_vec.expr
