eval tests/cli/043_unknown_function.expr
