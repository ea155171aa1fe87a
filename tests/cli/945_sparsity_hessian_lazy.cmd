sparsity tests/cli/data/lazy_three_outputs.expr --hessian
