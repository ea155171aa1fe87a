trace tests/cli/data/trace_matrix.expr 'x=[[1,2,3,4],[5,6,7,8],[9,10,11,12]]' --wrt 'x[1]'
