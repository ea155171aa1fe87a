eval examples/seed_scalar.expr w=2 'x=[1e400]' y=1
