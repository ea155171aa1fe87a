grad tests/cli/data/fn_lsm.expr 'x=[0, 800, -800]'
