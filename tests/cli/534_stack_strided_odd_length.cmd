eval tests/cli/data/stack_strided.expr x=[1,2,3]
