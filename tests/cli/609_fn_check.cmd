check tests/cli/data/fn_huber.expr 'X=[[1,2],[3,4],[0,0]]' 'y=[1,-3,0.5]'
