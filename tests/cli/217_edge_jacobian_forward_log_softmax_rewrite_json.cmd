jacobian tests/cli/data/edge_log_softmax_mask.expr x=[0,800,-800] --mode forward --json
