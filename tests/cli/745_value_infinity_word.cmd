eval examples/seed_scalar.expr w=2 x=Infinity y=1
