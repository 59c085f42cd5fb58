"""Constructs that each own one concern of the stresslab AWS runtime."""
