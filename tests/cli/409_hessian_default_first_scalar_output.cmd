hessian tests/cli/data/hessian_vector_first.expr 'x=[1,2]'
