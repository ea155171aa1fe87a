jvp examples/rosenbrock_step.expr x=[-1.2,1,-1.2,1] --tangent x=[1,0,0,0]
