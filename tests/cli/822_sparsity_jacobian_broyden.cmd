sparsity examples/sparse/broyden_banded_residual.expr N=1000
