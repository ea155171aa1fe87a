grad @GEN@/chain6k_err.expr
