jvp tests/cli/data/b17_clip_cumsum.expr --tangent x=[1,1,1,1]
