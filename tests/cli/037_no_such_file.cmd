eval tests/cli/data/no_such_file.expr
