grad tests/cli/data/b17_take.expr label=3
