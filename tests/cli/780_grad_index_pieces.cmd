grad tests/cli/data/index_pieces.expr
