sparsity examples/sparse/chained_rosenbrock.expr N=4 --hessian --mode forward
