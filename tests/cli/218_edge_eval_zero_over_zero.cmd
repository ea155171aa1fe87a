eval tests/cli/data/edge_zero_over_zero.expr
