check tests/cli/data/sqrt_only.expr x=-1
