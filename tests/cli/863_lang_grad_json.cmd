grad examples/rosenbrock_step.expr x=[-1.2,1,-1.2,1] --json
