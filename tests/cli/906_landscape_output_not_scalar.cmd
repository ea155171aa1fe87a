landscape examples/iris_mlp.expr -o @GEN@/x.png --output pred
