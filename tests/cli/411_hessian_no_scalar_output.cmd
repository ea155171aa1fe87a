hessian tests/cli/data/hessian_no_scalar.expr 'x=[1,2]'
