eval tests/cli/751_diff_take_readback.expr idx=[0,4]
