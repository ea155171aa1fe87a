eval tests/cli/049_empty.expr
