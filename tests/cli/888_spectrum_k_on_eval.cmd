eval tests/cli/data/spectrum_saddle.expr --k 2
