hessian --sparse examples/sparse/chained_rosenbrock.expr N=4 --mode forward --lr 1
