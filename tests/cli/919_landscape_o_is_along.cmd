landscape examples/saddle.expr -o tests/cli/data/landscape_x_only.json --along tests/cli/data/landscape_x_only.json
