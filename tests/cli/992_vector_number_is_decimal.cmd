hvp tests/cli/data/break17_square.expr --vector w=0x1p3
