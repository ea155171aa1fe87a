sparsity --hessian examples/sparse/chained_rosenbrock.expr N=6 --json
