"""CDK stacks and constructs that deploy the stresslab AWS runtime."""
