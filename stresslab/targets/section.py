"""The target section read on its own (probe, tests): one-line errors naming the field.

Kept apart from config.py: the scenario spec imports the models; this module and the spec
share the error formatter (scenario/errors.py), so neither imports the other.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import InitErrorDetails

from stresslab.scenario.errors import describe_validation_error
from stresslab.targets.config import (
    AUTH_TYPES,
    TARGET_KINDS,
    AnyTarget,
    TargetConfigError,
    TargetSpec,
)

_TARGET: TypeAdapter[Any] = TypeAdapter(TargetSpec)


def parse_target(data: object, where: str = "target") -> AnyTarget:
    """The target section as its kind's model; TargetConfigError (one line) naming the field."""
    if not isinstance(data, dict):
        raise TargetConfigError(f"{where}: expected a mapping with kind, url, …")
    kind = data.get("kind", "http")
    if kind not in TARGET_KINDS:
        raise TargetConfigError(
            f"{where}.kind: unknown kind {kind!r} (use one of {', '.join(TARGET_KINDS)})"
        )
    try:
        target: AnyTarget = _TARGET.validate_python(data)
    except ValidationError as error:
        raise TargetConfigError(describe_validation_error(_relocated(error, where))) from None
    return target


def _relocated(error: ValidationError, where: str) -> ValidationError:
    """The same errors under `where`, without the union tags pydantic adds to locations."""
    details: list[InitErrorDetails] = []
    for item in error.errors():
        loc = list(item["loc"])
        if loc and loc[0] in TARGET_KINDS:
            del loc[0]
        if loc[:2] and loc[0] == "auth" and loc[1:2] and loc[1] in AUTH_TYPES:
            del loc[1]
        detail: InitErrorDetails = {
            "type": item["type"], "loc": (where, *loc), "input": item["input"]
        }
        if "ctx" in item:
            detail["ctx"] = item["ctx"]
        details.append(detail)
    return ValidationError.from_exception_data(error.title, details)
