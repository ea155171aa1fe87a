hessian tests/cli/data/index_pieces.expr
