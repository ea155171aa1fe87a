eval tests/cli/data/u17_lazy.expr --output L 'X=[[1, 2]]' 'label=[3]'
