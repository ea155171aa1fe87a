jvp tests/cli/data/edge_where_sqrt.expr x=-1 --tangent x=1
