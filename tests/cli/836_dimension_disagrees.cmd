eval examples/sparse/chained_rosenbrock.expr N=3 x=[1,2]
