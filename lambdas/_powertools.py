"""The Powertools trio every handler uses, named after the function, and its event parse step."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ValidationError

from stresslab.aws.env import one_line

DEFAULT_NAMESPACE = "stresslab"
Event = TypeVar("Event", bound=BaseModel)


def powertools(service: str) -> tuple[Logger, Tracer, Metrics]:
    """The stack sets POWERTOOLS_METRICS_NAMESPACE per environment; the alarms read it."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", DEFAULT_NAMESPACE)
    return Logger(service=service), Tracer(service=service), Metrics(
        namespace=namespace, service=service
    )


def parse_event(event: Any, model: type[Event], kind: str) -> Event:
    """The event as its model (Powertools' parser), or ValueError in one line naming `kind` and
    the field: Step Functions shows it as the failed state's cause."""
    try:
        return parse(event=event, model=model)
    except ValidationError as invalid:
        raise ValueError(one_line(invalid, f"{kind}: ")) from None
