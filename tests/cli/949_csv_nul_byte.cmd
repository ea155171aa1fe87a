eval tests/cli/data/csv_sum.expr x=@tests/cli/data/csv_nul_byte.csv
