"""Thin Lambda handlers for the AWS runtime: typed env, parse the event, one core call, result."""
