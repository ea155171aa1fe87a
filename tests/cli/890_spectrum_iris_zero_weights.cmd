spectrum examples/iris_mlp.expr --inputs tests/cli/data/iris_zero.json
