help hvp
