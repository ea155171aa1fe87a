spectrum tests/cli/data/spectrum_saddle.expr --probes -1
