eval tests/cli/data/break17_square.expr --json=1
