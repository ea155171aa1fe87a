eval examples/seed_scalar.expr f=1 w=2 x=3 y=1
