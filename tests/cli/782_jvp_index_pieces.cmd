jvp tests/cli/data/index_pieces.expr --tangent x=[1,0,0,0,0,1]
