diff examples/seed_scalar.expr
