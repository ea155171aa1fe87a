check tests/cli/data/check_small.expr a=1e-6
