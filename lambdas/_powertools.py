"""The Powertools trio every handler uses, named after the function."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "stresslab"


def powertools(service: str) -> tuple[Logger, Tracer, Metrics]:
    return Logger(service=service), Tracer(service=service), Metrics(
        namespace=NAMESPACE, service=service
    )
