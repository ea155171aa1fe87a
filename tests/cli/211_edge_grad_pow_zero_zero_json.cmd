grad tests/cli/data/edge_pow.expr x=0 y=0 --json
