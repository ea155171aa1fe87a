train tests/cli/data/two_outputs_w.expr --batch 4 --steps 2 --json
