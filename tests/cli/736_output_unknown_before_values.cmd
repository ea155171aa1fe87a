eval examples/seed_scalar.expr --output ff
