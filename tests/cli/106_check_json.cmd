check tests/cli/data/not_finite.expr x=0 --json
