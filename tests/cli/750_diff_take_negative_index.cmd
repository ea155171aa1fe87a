diff tests/cli/750_diff_take_negative_index.expr --wrt x
