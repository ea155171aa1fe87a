grad tests/cli/750_diff_take_negative_index.expr x=[1,2,3,4]
