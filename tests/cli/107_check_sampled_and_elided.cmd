check tests/cli/data/big_tensors.expr --seed 3
