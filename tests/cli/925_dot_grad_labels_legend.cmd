dot tests/cli/data/u17_dot.expr --grad
