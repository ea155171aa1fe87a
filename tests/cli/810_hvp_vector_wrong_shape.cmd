hvp tests/cli/data/index_rosenbrock.expr 'x=[-1.2, 1, -1.2, 1]' --vector 'x=[1, 2]'
