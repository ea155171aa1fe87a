grad tests/cli/data/m20_affine_exp.expr --block-rows 16 --threads 2
