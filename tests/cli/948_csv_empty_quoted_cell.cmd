eval tests/cli/data/csv_sum.expr x=@tests/cli/data/csv_empty_quoted_cell.csv
