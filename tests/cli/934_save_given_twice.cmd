train tests/cli/data/two_outputs_w.expr --save /tmp/ux17c_a.json --save=/tmp/ux17c_b.json --steps 1
