hvp tests/cli/data/hvp_mix.expr --vector b=0.5
