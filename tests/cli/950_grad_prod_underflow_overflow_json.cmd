grad tests/cli/data/prod_edges.expr x=[1e-200,1e-200,1e200] A=[[1e-200,1e-200,1e200],[1e200,1e200,1e-200]] --json
