jacobian --sparse tests/cli/data/s82_two.expr x=[1,2,3] w=2 c=[1,0,2] --mode reverse
