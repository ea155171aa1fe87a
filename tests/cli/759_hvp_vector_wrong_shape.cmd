hvp tests/cli/data/hvp_mix.expr --vector w=[1,2,3]
