hesian tests/cli/data/break17_square.expr
