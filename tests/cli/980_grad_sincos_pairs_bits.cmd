grad tests/cli/data/sincos_pairs.expr --json
