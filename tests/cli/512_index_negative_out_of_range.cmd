eval tests/cli/data/index_forms.expr 'x=[7]'
