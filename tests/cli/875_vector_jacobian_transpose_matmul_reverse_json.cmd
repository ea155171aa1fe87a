jacobian tests/cli/data/vector_matmul.expr W=[[1,2,3],[4,5,6]] X=[[1,-1],[0.5,2]] --mode reverse --json
