eval tests/cli/data/index_bad_slices.expr
