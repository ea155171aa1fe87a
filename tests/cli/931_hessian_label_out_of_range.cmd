hessian examples/iris_mlp.expr 'label=[0,1,3]' 'X=[[1,2],[3,4],[5,6]]' --wrt c
