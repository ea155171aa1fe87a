grad tests/cli/data/index_matrix.expr 'X=[[1, 2, 3], [4, 5, 6]]' 'w=[1, 10, 100]' 'v=[1, 2, 3]'
