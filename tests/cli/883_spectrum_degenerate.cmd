spectrum tests/cli/data/spectrum_quartic.expr
