jvp tests/cli/data/fn_nested.expr x=2 --tangent x=0.5
