diff tests/cli/data/two_outputs_w.expr --wrt w w=3 zz=1
