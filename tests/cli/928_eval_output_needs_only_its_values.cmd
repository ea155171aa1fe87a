eval tests/cli/data/u17_lazy.expr --output pred 'X=[[1, 2], [3, 5]]'
