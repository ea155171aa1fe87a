diff examples/seed_scalar.expr --wrt w,x,y
