hvp examples/seed_scalar.expr w=2 x=3 y=1 --vector w=1 x=2 y=3 --json
