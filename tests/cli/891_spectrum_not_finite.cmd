spectrum tests/cli/data/spectrum_sqrt.expr
