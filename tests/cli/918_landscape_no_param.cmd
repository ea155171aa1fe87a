landscape tests/cli/data/landscape_no_param.expr -o @GEN@/x.png
