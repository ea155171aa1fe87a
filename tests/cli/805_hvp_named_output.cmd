hvp tests/cli/data/two_outputs.expr a=1 t=2 --output y2 --vector a=1 b=1
