eval tests/cli/data/break17_square.expr w=@tests/cli/data
