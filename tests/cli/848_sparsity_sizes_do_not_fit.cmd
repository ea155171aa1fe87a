sparsity --hessian examples/mgh/extended_powell_singular.expr N=10
