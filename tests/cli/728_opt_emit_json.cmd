emit examples/seed_scalar.expr --json
