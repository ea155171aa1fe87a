train examples/seed_scalar.expr w=2 x=3 y=1 --json --steps 2
