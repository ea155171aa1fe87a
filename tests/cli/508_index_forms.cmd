eval tests/cli/data/index_forms.expr 'x=[1, 2, 3, 4, 5]'
