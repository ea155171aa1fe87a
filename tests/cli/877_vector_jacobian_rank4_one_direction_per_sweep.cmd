jacobian tests/cli/data/vector_rank4.expr T=[[[[1,2]],[[3,4]]]] --mode forward
