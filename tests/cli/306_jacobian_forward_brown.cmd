jacobian tests/cli/data/b17_brown.expr --mode forward
