check tests/cli/data/sincos_pairs.expr
