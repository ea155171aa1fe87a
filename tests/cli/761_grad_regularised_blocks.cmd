grad tests/parallel/iris_l2.expr --wrt c,b --block-rows 16 --threads 2
