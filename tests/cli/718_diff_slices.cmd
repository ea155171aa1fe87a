diff tests/cli/718_diff_slices.expr --wrt x
