grad tests/cli/data/fn_nested.expr x=2
