jacobian tests/cli/data/vector_sines.expr x=@tests/cli/data/vector_x70.json --mode forward
