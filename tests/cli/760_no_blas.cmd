eval examples/iris_mlp.expr --no-blas
