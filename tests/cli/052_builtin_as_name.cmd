eval tests/cli/052_builtin_as_name.expr
