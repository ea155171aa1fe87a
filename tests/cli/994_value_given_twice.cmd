eval tests/cli/data/break17_square.expr w=1 'w=[2]'
