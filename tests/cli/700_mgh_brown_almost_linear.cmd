eval examples/mgh/brown_almost_linear.expr x=[0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5,0.5] --json
