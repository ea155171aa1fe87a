landscape --help
