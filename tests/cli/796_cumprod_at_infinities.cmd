eval tests/cli/data/u17_cumprod_inf.expr
