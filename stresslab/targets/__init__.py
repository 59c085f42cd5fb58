"""Adapters that carry transactions to a system under test."""
