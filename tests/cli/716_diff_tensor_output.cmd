diff examples/iris_mlp.expr --wrt V --output pred
