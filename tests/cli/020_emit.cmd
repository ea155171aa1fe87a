emit tests/cli/data/tiny.expr
