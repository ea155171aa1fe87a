jacobian tests/cli/data/prod_edges.expr x=[1e200,1e200,1e-200] A=[[1e-300,1e-20,1e300],[1e200,1e200,1e-200]] --mode forward
