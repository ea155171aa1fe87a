emit tests/cli/data/index_small.expr
