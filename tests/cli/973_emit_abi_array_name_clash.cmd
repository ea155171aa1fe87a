emit tests/cli/data/abi_clash.expr --abi array
