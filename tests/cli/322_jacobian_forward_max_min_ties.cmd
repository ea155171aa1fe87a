jacobian tests/cli/data/b17_maxmin.expr --mode forward
