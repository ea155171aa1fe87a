check tests/cli/data/tensor_output.expr x=[0.3,0.7]
