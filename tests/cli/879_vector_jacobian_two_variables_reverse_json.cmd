jacobian tests/cli/data/vector_two_params.expr A=[[1,2],[3,4]] x=[1,-1] c=0.5 --wrt x,c --mode reverse --json
