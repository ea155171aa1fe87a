spectrum examples/saddle.expr --probes 1
