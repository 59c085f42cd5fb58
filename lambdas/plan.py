"""Plan: validate the execution input, plan waves x shards with the core, record the run."""

from __future__ import annotations

import time
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, Json

from lambdas._powertools import parse_event, powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.planning import (
    TARGET_SECRET_PREFIX,
    Ceilings,
    InvalidRun,
    PlanRefused,
    parse_run_input,
    plan_execution,
)
from stresslab.aws.store import DynamoRunStore

logger, tracer, metrics = powertools("plan")


class PlanEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    MAX_TPS: Annotated[float, Field(gt=0)]
    MAX_DURATION_S: Annotated[float, Field(gt=0)]
    MAX_WORKERS: Annotated[int, Field(ge=1)] = 1000
    FAULT_TEMPLATES: Json[dict[str, str]] = Field(default_factory=dict)
    START_MARGIN_S: Annotated[float, Field(ge=0)] = 10.0
    LAUNCH_LEAD_S: Annotated[float, Field(ge=0, le=240)] = 30.0
    RETENTION_DAYS: Annotated[float, Field(gt=0)] = 30.0
    # the Secrets Manager names a run's target section may read (docs/security.md)
    TARGET_SECRET_PREFIX: Annotated[str, Field(min_length=1)] = TARGET_SECRET_PREFIX


class PlanEvent(BaseModel):
    """Built by the state machine: the execution input plus the execution's name and ARN."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    input: Any
    run_id: Annotated[str, Field(min_length=1, max_length=80)]
    execution_arn: str = ""


@cache
def _deps() -> tuple[PlanEnv, DynamoRunStore]:
    env = read_env(PlanEnv)
    return env, DynamoRunStore(client("dynamodb"), env.TABLE_NAME, env.RETENTION_DAYS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env, store = _deps()
    request = parse_event(event, PlanEvent, "plan event")
    try:
        plan = plan_execution(
            parse_run_input(request.input), request.run_id, request.execution_arn, time.time(),
            Ceilings(max_tps=env.MAX_TPS, max_duration_s=env.MAX_DURATION_S,
                     max_workers=env.MAX_WORKERS,
                     target_secret_prefix=env.TARGET_SECRET_PREFIX),
            env.FAULT_TEMPLATES, store, env.START_MARGIN_S, env.LAUNCH_LEAD_S,
        )
    except InvalidRun as refused:
        logger.warning("run refused", extra={"run_id": request.run_id, "error": str(refused)})
        metrics.add_metric(name="RunsRefused", unit=MetricUnit.Count, value=1)
        return PlanRefused(error=str(refused)).model_dump()
    metrics.add_metric(name="RunsPlanned", unit=MetricUnit.Count, value=1)
    return plan.model_dump(mode="json")
