"""Cleanup: stop the run's FIS experiments and record its final status (Catch or EventBridge)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import parse_event, powertools
from stresslab.aws.cleanup import cleanup_run
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.faults import FisFaults
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.store import DynamoRunStore

logger, tracer, metrics = powertools("cleanup")


class CleanupEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]


class CaughtError(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    Error: str = ""
    Cause: str = ""


class CatchEvent(BaseModel):
    """From the state machine's Catch: the execution name (= run id) and the caught error."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    run_id: Annotated[str, Field(min_length=1, max_length=80)]
    error: CaughtError = Field(default_factory=CaughtError)


class ExecutionDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    name: Annotated[str, Field(min_length=1, max_length=80)]
    status: str
    error: str | None = None
    cause: str | None = None


class StatusChangeEvent(EventBridgeModel):
    """EventBridge 'Step Functions Execution Status Change' (console StopExecution, timeouts)."""

    model_config = ConfigDict(allow_inf_nan=False)
    detail: ExecutionDetail


@cache
def _env() -> CleanupEnv:
    return read_env(CleanupEnv)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = _env()
    if "detail" in event:
        detail = parse_event(event, StatusChangeEvent, "cleanup event").detail
        run_id, error, cause, status = (detail.name, detail.error or "", detail.cause or "",
                                        detail.status)
    else:
        caught = parse_event(event, CatchEvent, "cleanup event")
        run_id, error, cause = caught.run_id, caught.error.Error, caught.error.Cause
        status = None
    dynamodb = client("dynamodb")
    cleaned = cleanup_run(
        run_id, FisFaults(client("fis"), {}), DynamoRunStore(dynamodb, env.TABLE_NAME),
        StopFlags(dynamodb, env.TABLE_NAME), error=error, cause=cause,
        execution_status=status,
    )
    metrics.add_metric(name="RunsCleanedUp", unit=MetricUnit.Count, value=1)
    logger.info("run cleaned up", extra=cleaned.model_dump())
    return cleaned.model_dump()
