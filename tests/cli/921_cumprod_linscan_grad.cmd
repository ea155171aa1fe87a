grad tests/cli/data/u17_cumprod.expr --wrt x,A
