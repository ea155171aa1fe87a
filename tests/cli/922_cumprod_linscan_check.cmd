check tests/cli/data/u17_cumprod.expr
