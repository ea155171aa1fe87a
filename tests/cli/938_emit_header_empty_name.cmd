emit tests/cli/data/two_outputs_w.expr --header ''
