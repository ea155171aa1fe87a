eval @GEN@/huge_number.expr
