trace tests/cli/data/trace_symbolic.expr 'X=[[1,2],[3,4],[5,6]]' 'y=[1,0,1]' 'w=[0.5,-1]' b=0.25 --wrt 'w[1]'
