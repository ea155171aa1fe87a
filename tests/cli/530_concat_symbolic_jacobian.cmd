jacobian tests/cli/data/concat_symbolic.expr x=[1,2,3] --mode reverse
