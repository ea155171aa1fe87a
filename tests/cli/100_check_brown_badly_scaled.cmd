check tests/cli/data/brown_badly_scaled.expr x=[1,1]
