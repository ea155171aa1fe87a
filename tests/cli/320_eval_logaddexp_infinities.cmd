eval tests/cli/data/b17_scalars.expr a=-inf b=-inf --json
