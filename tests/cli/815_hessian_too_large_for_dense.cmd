hessian tests/cli/data/hvp_big.expr
