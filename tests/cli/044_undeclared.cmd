eval tests/cli/044_undeclared.expr weight=1 x=1
