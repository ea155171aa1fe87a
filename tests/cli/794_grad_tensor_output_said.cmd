grad tests/cli/data/u17_train.expr
