diff examples/seed_scalar.expr --wrt x --json
