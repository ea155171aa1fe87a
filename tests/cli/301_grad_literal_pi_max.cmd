grad tests/cli/data/b17_literal_pi_max.expr
