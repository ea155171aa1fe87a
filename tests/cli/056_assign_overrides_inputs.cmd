eval tests/cli/data/two_outputs.expr --inputs tests/cli/data/two_inputs.json b=0 a=0
