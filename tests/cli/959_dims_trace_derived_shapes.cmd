trace tests/cli/data/dims_trace.expr x=[1,2]
