check examples/seed_scalar.expr
