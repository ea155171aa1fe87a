jacobian tests/cli/data/edge_where_exp.expr x=1e10 --mode reverse
