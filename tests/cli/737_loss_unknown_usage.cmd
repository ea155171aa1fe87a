train examples/seed_scalar.expr --loss ff
