landscape tests/cli/data/landscape_zero_w.expr -o @GEN@/x.png
