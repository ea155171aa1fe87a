hvp tests/cli/data/hessian_no_scalar.expr 'x=[1,2]' --vector 'x=[1,0]'
