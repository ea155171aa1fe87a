hvp examples/seed_scalar.expr w=2 x=3 y=1 --wrt w,x --vector y=1
