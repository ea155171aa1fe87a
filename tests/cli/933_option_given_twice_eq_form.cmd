grad tests/cli/data/two_outputs_w.expr --wrt w --wrt=w
