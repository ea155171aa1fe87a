eval examples/seed_scalar.expr 'w=[1,2]' x=3 y=1
