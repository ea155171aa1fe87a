eval tests/cli/data/u17_lazy_checks.expr --output a 'X=[1, 2]' --json
