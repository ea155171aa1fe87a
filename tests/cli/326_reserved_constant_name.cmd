eval tests/cli/data/b17_reserved.expr
