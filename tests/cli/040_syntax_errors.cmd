eval tests/cli/040_syntax_errors.expr
