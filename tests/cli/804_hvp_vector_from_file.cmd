hvp tests/cli/data/index_rosenbrock.expr 'x=[-1.2, 1, -1.2, 1]' --vector x=@tests/cli/data/hvp_vector.json --json
