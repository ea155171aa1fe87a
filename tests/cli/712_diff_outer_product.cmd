diff tests/cli/712_diff_outer_product.expr --wrt W,v
