eval tests/cli/data/u17_lazy.expr 'X=[[1, 2]]' scale=2
