check tests/cli/data/check_sin.expr a=1e12
