grad tests/cli/data/dims_maybe_equal.expr x=[1,2,3,4]
