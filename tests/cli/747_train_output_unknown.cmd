train examples/seed_scalar.expr w=1 x=2 y=3 --output ff --steps 2
