trace tests/cli/data/break17_vector.expr 'x=[1,2,3]' --wrt 'x[-1]'
