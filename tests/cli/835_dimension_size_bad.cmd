eval examples/sparse/chained_rosenbrock.expr N=abc
