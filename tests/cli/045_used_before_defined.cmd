eval tests/cli/045_used_before_defined.expr
