sparsity --hessian examples/sparse/chained_rosenbrock.expr
