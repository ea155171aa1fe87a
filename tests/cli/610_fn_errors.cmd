eval tests/cli/data/fn_errors.expr w=1 x=2
