emit examples/seed_scalar.expr --prefix 9x
