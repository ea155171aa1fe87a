grad tests/cli/data/edge_x_times_zero.expr 'x="Infinity"' --json
