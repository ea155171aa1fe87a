eval examples/seed_scalar.expr w=abc x=3 y=1
