grad tests/cli/data/b17_keepdims.expr
