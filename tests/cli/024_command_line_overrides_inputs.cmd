eval examples/seed_scalar.expr --inputs tests/cli/data/seed_inputs.json w=0
