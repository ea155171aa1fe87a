jacobian tests/cli/data/b17_norm.expr x=[0,0,0] --mode forward
