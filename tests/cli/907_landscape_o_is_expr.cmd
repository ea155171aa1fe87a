landscape examples/saddle.expr -o examples/saddle.expr
