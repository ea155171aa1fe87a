jacobian tests/cli/data/b17_keepdims.expr --mode forward
