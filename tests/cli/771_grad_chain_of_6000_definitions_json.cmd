grad @GEN@/chain6k.expr --json
