dot tests/cli/data/tiny.expr --grad
