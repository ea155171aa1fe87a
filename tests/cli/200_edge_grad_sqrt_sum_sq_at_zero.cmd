grad tests/cli/data/edge_sqrt_sum_sq.expr x=[0,0]
