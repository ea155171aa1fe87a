eval tests/cli/data/dims_differ.expr x=[1,2,3]
