"""The scenario: what a run is asked to do (schema, load profiles, durations, presentations)."""
