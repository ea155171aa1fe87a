check tests/cli/data/vertical_tangent.expr x=0
