hessian examples/sparse/chained_rosenbrock.expr N=100000
