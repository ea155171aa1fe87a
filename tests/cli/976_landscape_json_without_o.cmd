landscape examples/saddle.expr --json --grid 3 --dim 1
