frobnicate examples/seed_scalar.expr
