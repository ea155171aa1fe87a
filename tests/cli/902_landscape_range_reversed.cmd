landscape examples/saddle.expr -o @GEN@/x.png --range 1:-1
