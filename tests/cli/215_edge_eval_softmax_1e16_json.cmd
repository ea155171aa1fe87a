eval tests/cli/data/edge_softmax.expr x=[1e16,1e16] --json
