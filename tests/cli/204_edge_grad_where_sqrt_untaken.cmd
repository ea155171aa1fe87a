grad tests/cli/data/edge_where_sqrt.expr x=-1
