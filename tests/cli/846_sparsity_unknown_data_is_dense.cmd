sparsity tests/cli/data/s84_matvec.expr --json
