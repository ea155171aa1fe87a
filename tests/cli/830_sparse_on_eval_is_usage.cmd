eval examples/sparse/chained_rosenbrock.expr N=3 --sparse
