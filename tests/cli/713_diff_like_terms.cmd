diff tests/cli/713_diff_like_terms.expr --wrt x,w
