emit --abi array --sparse tests/cli/data/s82_two.expr --prefix t -o /dev/null --header /dev/stdout
