emit tests/cli/data/tiny.expr --abi array
