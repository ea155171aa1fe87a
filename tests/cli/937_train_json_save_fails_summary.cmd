train tests/cli/data/two_outputs_w.expr --save /dev/full --steps 2 --json
