jvp tests/cli/data/two_outputs.expr a=1 t=2 --tangent a=1 b=2 --json
