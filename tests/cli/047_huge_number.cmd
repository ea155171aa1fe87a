eval tests/cli/047_huge_number.expr
