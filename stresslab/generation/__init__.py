"""Generating the load: the plan, labelled transactions and the worker that sends them."""
