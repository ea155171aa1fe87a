hvp tests/cli/data/two_outputs.expr a=1 t=2 --wrt a,t --vector t=1
