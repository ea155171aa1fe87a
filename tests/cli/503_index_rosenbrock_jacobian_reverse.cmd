jacobian tests/cli/data/index_rosenbrock.expr 'x=[-1.2, 1, -1.2, 1]' --mode reverse --json
