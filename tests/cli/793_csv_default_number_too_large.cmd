eval tests/cli/data/u17_csv_default.expr
