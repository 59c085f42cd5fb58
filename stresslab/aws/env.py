"""Handler settings: one pydantic model per function, read from the environment at cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from stresslab.scenario.spec import describe_validation_error

Settings = TypeVar("Settings", bound=BaseModel)


class ConfigurationError(RuntimeError):
    """The function's environment is incomplete or wrong (one line naming the variable)."""


def read_env(model: type[Settings], environ: Mapping[str, str] | None = None) -> Settings:
    try:
        return model.model_validate(dict(os.environ if environ is None else environ))
    except ValidationError as error:
        raise ConfigurationError(f"environment: {describe_validation_error(error)}") from None


def one_line(error: ValidationError, prefix: str = "") -> str:
    message = describe_validation_error(error)
    return f"{prefix}{message}" if prefix else message
