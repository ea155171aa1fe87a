eval tests/cli/046_redefinition.expr
