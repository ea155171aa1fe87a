eval tests/cli/data/two_outputs_w.expr --output L --output K
