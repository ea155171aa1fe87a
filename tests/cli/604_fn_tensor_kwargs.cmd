eval tests/cli/data/fn_tensor.expr 'A=[[1,2,1],[3,3,6]]'
