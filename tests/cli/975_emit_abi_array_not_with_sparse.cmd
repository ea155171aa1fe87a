emit examples/sparse/chained_rosenbrock.expr --abi array --sparse N=10
