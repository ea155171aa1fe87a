jvp tests/cli/data/index_forms.expr 'x=[1, 2, 3, 4]' --tangent 'x=[1, 10, 100, 1000]'
