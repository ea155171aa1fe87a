eval tests/cli/data/index_negative_index.expr 'x=[1, 2, 3]'
