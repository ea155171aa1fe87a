emit tests/cli/data/tiny.expr --prefix my_model
