train tests/cli/data/two_outputs_w.expr --save '' --steps 2
