sparsity tests/cli/data/lazy_three_outputs.expr --output L --json
