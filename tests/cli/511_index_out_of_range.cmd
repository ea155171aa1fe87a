eval tests/cli/data/index_out_of_range.expr 'x=[1, 2, 3]'
