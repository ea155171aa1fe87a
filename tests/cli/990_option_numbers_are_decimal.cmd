train tests/cli/data/break17_square.expr --lr 0x10 --steps 1
