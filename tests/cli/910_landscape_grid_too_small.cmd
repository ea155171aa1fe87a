landscape examples/saddle.expr -o @GEN@/x.png --grid 1
