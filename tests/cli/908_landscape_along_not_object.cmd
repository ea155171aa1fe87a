landscape examples/saddle.expr -o @GEN@/x.png --along tests/cli/data/landscape_array.json
