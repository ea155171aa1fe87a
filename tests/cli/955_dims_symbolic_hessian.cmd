hessian tests/cli/data/dims_symbolic.expr x=[1,2,3] 'X=[[1,2,3,4],[5,6,7,8],[9,10,11,12]]' --output L
