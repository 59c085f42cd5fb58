"""The emulated AWS of `make aws-local`: moto in server mode, the real handlers in-process, and a
gateway for API Gateway, all built from the template CDK synthesizes."""
