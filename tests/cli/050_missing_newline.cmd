eval tests/cli/050_missing_newline.expr
