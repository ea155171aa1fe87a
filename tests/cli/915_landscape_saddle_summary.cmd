landscape examples/saddle.expr -o @GEN@/s.png --dim 2 --grid 5
