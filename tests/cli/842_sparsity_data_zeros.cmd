sparsity tests/cli/data/s84_matvec.expr A=[[2,0],[0,3]] --json
