hessian --sparse examples/sparse/chained_rosenbrock.expr x=[1,-1,0.5] --json
