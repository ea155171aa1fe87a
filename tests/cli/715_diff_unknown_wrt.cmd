diff examples/seed_scalar.expr --wrt ww
