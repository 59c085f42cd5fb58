"""Measuring: per-worker metrics, their aggregation per second, the live protocol."""
