landscape examples/saddle.expr -o @GEN@/x.png --steps 5
