eval tests/cli/data/u17_cumprod.expr
