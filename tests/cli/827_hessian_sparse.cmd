hessian --sparse examples/sparse/chained_rosenbrock.expr N=5
