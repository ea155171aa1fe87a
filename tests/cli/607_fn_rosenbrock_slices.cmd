eval tests/cli/data/fn_rosen.expr 'x=[-1.2, 1, -1.2, 1]'
