eval tests/cli/data/edge_a_minus_a.expr a=3
