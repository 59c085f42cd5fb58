"""Judging a run: criteria, resilience, degradation, capacity, business value, the summary."""
