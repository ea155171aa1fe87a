eval tests/cli/data/concat_symbolic.expr x=[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5] --json
