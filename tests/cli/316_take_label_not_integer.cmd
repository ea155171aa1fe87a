eval tests/cli/data/b17_take.expr label=1.5
