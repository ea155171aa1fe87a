landscape examples/saddle.expr -o @GEN@/x.png --along tests/cli/data/landscape_x_only.json
