eval tests/cli/042_deep_nesting.expr
