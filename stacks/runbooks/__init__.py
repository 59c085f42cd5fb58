"""Scripts that SSM Automation runbooks of the stack run (shipped as text, not imported)."""
