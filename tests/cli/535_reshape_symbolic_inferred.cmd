grad tests/cli/data/reshape_symbolic.expr x=[1,2,3,4,5,6] --wrt x
