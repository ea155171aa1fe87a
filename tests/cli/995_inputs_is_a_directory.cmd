eval tests/cli/data/break17_square.expr --inputs tests/cli/data
