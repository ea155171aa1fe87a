jacobian tests/cli/data/dims_symbolic.expr x=[1,2] 'X=[[1,2,3,4],[5,6,7,8]]' --mode forward
