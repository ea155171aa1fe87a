grad tests/cli/data/b17_norm.expr x=[3,4,0]
