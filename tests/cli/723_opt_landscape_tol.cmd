landscape examples/saddle.expr -o @GEN@/l.png --tol 1
