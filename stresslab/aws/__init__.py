"""AWS adapters over boto3: the only place besides stacks/ that imports boto3."""
