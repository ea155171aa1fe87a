eval tests/cli/data/edge_logsumexp.expr 'x=["Infinity",0]'
