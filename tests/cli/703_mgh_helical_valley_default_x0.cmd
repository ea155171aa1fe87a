eval examples/mgh/helical_valley.expr
