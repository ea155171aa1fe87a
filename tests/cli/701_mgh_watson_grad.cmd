grad examples/mgh/watson.expr x=[0,0,0,0,0,0]
