landscape examples/saddle.expr -o @GEN@/x.png --along tests/cli/data/no_such_params.json
