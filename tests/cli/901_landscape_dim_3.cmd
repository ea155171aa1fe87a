landscape examples/saddle.expr -o @GEN@/x.png --dim 3
