grad examples/seed_scalar.expr w=1 x=2 y=3 --abi array
