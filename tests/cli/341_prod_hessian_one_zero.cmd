hessian tests/cli/data/prod_hessian.expr x=[0,2,3] --json
