dot tests/cli/data/two_outputs_w.expr ww=1 w=3
