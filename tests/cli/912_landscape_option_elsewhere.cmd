eval examples/saddle.expr --dim 2
