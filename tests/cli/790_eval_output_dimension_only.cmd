eval tests/cli/data/u17_lazy.expr --output count N=4
