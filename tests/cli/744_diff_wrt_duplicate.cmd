diff examples/seed_scalar.expr --wrt w,w
