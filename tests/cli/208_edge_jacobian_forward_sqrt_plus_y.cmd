jacobian tests/cli/data/edge_sqrt_plus_y.expr x=0 y=1 --mode forward
