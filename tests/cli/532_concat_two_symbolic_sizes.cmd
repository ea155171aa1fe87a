eval tests/cli/data/concat_two_symbolic.expr x=[1,2]
