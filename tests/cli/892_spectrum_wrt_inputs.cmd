spectrum tests/cli/data/spectrum_no_params.expr --wrt y,x --json
