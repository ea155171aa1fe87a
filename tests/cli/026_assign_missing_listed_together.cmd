eval examples/seed_scalar.expr x=3
