eval @GEN@/deep_parens.expr x=1
