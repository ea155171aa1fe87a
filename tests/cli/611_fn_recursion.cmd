eval tests/cli/data/fn_recursion.expr x=3
