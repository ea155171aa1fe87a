spectrum examples/iris_mlp.expr --inputs examples/iris_zero.json
