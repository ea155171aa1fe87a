check tests/cli/data/relu.expr x=0
