hessian tests/cli/data/prod_hessian.expr x=[0,0,3]
