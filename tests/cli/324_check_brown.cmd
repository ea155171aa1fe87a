check tests/cli/data/b17_brown.expr
