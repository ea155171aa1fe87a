landscape tests/landscape/data/log.expr -o @GEN@/x.png --dim 2
