landscape examples/saddle.expr -o @GEN@/x.png --dim 2 --range -1:1,a:b
