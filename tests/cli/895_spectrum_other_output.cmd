spectrum tests/cli/data/spectrum_bowl.expr --output M x=1 y=0 --k 1
