train examples/iris_mlp.expr --loss pred --steps 1
