eval tests/cli/data/u17_csv.expr X=@tests/cli/data/u17_big.csv
