spectrum tests/cli/data/spectrum_diagonal.expr --k 2
