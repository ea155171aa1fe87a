check tests/cli/data/brown_scalars.expr a=1 b=1
