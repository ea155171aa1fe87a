eval tests/cli/048_binary.expr
