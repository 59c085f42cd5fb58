"""The Powertools trio every handler uses, named after the function."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

DEFAULT_NAMESPACE = "stresslab"


def powertools(service: str) -> tuple[Logger, Tracer, Metrics]:
    """The stack sets POWERTOOLS_METRICS_NAMESPACE per environment; the alarms read it."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
    return Logger(service=service), Tracer(service=service), Metrics(
        namespace=namespace, service=service
    )
