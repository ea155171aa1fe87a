grad --help
