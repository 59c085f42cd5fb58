"""Typed CDK context for stresslab: the deploy-time settings read from cdk.json and -c flags."""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

# Our keys are snake_case; feature flags ("@aws-cdk/...") and CDK internals ("aws:cdk:...")
# never are, so a snake_case key we do not know is a typo and must not be silently ignored.
_OWN_KEY = re.compile(r"^[a-z][a-z0-9_]*$")

# Kinesis accepts 24 hours to 365 days of retention.
_KINESIS_MIN_RETENTION_HOURS = 24
_KINESIS_MAX_RETENTION_HOURS = 8760


class StresslabContext(BaseModel):
    """Deploy-time settings; every field is a context key of the same name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")] = "dev"
    metrics_retention_hours: Annotated[
        int, Field(ge=_KINESIS_MIN_RETENTION_HOURS, le=_KINESIS_MAX_RETENTION_HOURS)
    ] = 24
    metrics_stream_mode: Literal["on_demand", "provisioned"] = "on_demand"
    metrics_shard_count: Annotated[int | None, Field(ge=1, le=500)] = None
    results_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    access_log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    max_tps: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_duration_s: Annotated[int, Field(ge=1, le=86_400)] = 7_200

    @model_validator(mode="after")
    def _shard_count_only_when_provisioned(self) -> Self:
        if self.metrics_shard_count is not None and self.metrics_stream_mode != "provisioned":
            raise ValueError(
                "metrics_shard_count applies only when metrics_stream_mode is 'provisioned'"
            )
        return self

    @property
    def stack_name(self) -> str:
        return f"stresslab-{self.env_name}"

    @property
    def shard_count(self) -> int:
        return self.metrics_shard_count or 1


def read_cdk_json_context(cdk_json: Path) -> dict[str, Any]:
    """Return the "context" block of cdk.json, so a plain `python app.py` sees what `cdk` sees."""
    context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    return context


def load_context(node: Node) -> StresslabContext:
    """Validate the app's context; exit with one line naming the bad key if it is invalid."""
    raw = {key: value for key, value in node.get_all_context().items() if _OWN_KEY.match(key)}
    try:
        return StresslabContext.model_validate(raw)
    except ValidationError as error:
        raise SystemExit(_describe(error, raw)) from None


def _describe(error: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for detail in error.errors():
        key = ".".join(str(part) for part in detail["loc"])
        if not key:
            problems.append(detail["msg"].removeprefix("Value error, "))
        elif detail["type"] == "extra_forbidden":
            problems.append(f"unknown context key '{key}'")
        else:
            problems.append(f"context key '{key}'={raw.get(key)!r}: {detail['msg']}")
    return "stresslab: invalid CDK context: " + "; ".join(problems)
