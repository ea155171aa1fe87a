spectrum tests/cli/data/spectrum_cap.expr
