grad tests/cli/data/b17_scalars.expr a=-7.5 b=3
