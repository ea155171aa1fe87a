jacobian tests/cli/data/edge_unused_element.expr a=0 b=1 --mode forward --json
