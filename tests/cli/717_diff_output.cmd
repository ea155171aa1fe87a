diff examples/seed_sincos.expr --wrt w1 --output y2
