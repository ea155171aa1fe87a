landscape examples/iris_mlp.expr
