jvp tests/cli/data/break17_square.expr --tangent w=0x10
