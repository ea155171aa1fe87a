eval tests/cli/data/two_outputs.expr a=1 t=2 b=3
