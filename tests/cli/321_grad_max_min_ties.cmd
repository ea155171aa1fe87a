grad tests/cli/data/b17_maxmin.expr
