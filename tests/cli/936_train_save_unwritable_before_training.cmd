train tests/cli/data/two_outputs_w.expr --save /proc/gradc-params.json --steps 2 --json
