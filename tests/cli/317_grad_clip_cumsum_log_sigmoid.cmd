grad tests/cli/data/b17_clip_cumsum.expr
