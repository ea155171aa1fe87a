landscape examples/saddle.expr -o @GEN@/l.png --k 2
