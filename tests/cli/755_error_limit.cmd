eval tests/cli/data/many_errors.expr w=1
