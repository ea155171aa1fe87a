jacobian tests/cli/data/b17_prod.expr x=[2,0,3,0.5] --mode forward
