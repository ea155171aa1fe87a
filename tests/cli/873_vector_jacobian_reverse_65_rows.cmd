jacobian tests/cli/data/vector_ramp.expr t=0.5 --mode reverse
