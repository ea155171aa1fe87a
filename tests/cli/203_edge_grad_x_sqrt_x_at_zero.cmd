grad tests/cli/data/edge_x_sqrt_x.expr x=0
