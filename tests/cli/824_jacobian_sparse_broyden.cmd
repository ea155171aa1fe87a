jacobian --sparse examples/sparse/broyden_banded_residual.expr N=8
