jacobian tests/cli/data/vector_map.expr A=[[1,2,0],[0,-1,0.5],[0.25,0,1]] x=[0.5,-1,2] --mode reverse
