diff tests/cli/data/u17_prod.expr --wrt x --json
