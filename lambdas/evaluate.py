"""Evaluate: rebuild the run from its seconds, judge the criteria, write the outputs to S3."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import parse_event, powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.evaluation import SETTLE_TIMEOUT_S, evaluate_run
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.results import S3Results
from stresslab.aws.store import DynamoRunStore
from stresslab.judgement.business import load_price_table

logger, tracer, metrics = powertools("evaluate")
# Kept from the wait for judging and writing the outputs; past it, MetricsNotSettled is raised
# and the state machine retries Evaluate.
JUDGING_S = 120.0


class EvaluateEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    RESULTS_BUCKET: Annotated[str, Field(min_length=3)]
    # after the planned end: how long to wait for every worker's last batch to be merged
    SETTLE_TIMEOUT_S: Annotated[float, Field(ge=0, le=3600)] = SETTLE_TIMEOUT_S


class EvaluateEvent(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    run_id: Annotated[str, Field(min_length=1, max_length=80)]


@cache
def _env() -> EvaluateEnv:
    return read_env(EvaluateEnv)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = _env()
    request = parse_event(event, EvaluateEvent, "evaluate event")
    evaluation = evaluate_run(
        request.run_id, DynamoRunStore(client("dynamodb"), env.TABLE_NAME),
        S3Results(client("s3"), env.RESULTS_BUCKET),
        StopFlags(client("dynamodb"), env.TABLE_NAME), load_price_table(),
        settle_timeout_s=env.SETTLE_TIMEOUT_S,
        budget_s=context.get_remaining_time_in_millis() / 1000 - JUDGING_S,
    )
    metrics.add_metric(name="RunsEvaluated", unit=MetricUnit.Count, value=1)
    logger.info("run evaluated", extra=evaluation.model_dump())
    return evaluation.model_dump()
