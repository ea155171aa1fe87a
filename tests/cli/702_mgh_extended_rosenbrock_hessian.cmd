hessian examples/mgh/extended_rosenbrock.expr x=[-1.2,1,-1.2,1]
