spectrum tests/cli/data/spectrum_saddle.expr --k 0
