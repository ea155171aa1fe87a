eval tests/cli/data/reshape_symbolic.expr x=[1,2,3]
