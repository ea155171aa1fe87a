eval tests/cli/data/b17_bad_literal.expr
