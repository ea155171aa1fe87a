grad tests/cli/data/b17_shapes.expr X=[[1,2,3,4],[5,6,7,8]]
