eval tests/cli/041_unclosed.expr
