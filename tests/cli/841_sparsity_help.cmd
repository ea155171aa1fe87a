sparsity --help
