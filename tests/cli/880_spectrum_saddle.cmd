spectrum tests/cli/data/spectrum_saddle.expr
