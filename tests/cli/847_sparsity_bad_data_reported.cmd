sparsity tests/cli/data/s86_bad_data.expr N=3
