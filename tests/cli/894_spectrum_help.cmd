spectrum --help
