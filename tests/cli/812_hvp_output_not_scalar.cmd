hvp tests/cli/data/hessian_vector_first.expr 'x=[1,2]' --output r --vector 'x=[1,0]'
