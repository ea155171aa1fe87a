spectrum tests/cli/data/spectrum_bowl.expr --json
