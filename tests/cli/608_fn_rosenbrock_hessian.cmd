hessian tests/cli/data/fn_rosen.expr 'x=[-1.2, 1]'
