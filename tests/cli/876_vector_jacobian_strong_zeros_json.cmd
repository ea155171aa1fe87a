jacobian tests/cli/data/vector_edges.expr x=[0,1,4] --mode forward --json
