diff tests/cli/753_diff_take_axis1_scalar_negative.expr --wrt X
