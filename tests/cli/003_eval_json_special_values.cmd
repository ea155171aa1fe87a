eval tests/cli/data/special.expr a=0 --json
