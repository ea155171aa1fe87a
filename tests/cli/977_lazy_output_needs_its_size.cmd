eval tests/cli/data/lazy_needed_size.expr --output A
