emit --sparse examples/sparse/chained_rosenbrock.expr
