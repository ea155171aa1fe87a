dot examples/seed_scalar.expr -o @GEN@/x.dot
