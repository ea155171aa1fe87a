sparsity examples/sparse/chained_rosenbrock.expr N=4 --steps 3 --tangent x=1 --grad
