diff examples/iris_mlp.expr --wrt V,b,W,c
