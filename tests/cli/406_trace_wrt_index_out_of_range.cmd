trace tests/cli/data/trace_sumsq.expr 'x=[3,4]' --wrt 'x[2]'
