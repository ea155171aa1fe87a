sparsity --hessian tests/cli/data/s82_two.expr c=[1,0,2] --output r
