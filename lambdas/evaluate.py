"""Evaluate: rebuild the run from its seconds, judge the criteria, write the outputs to S3."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lambdas._powertools import powertools
from stresslab.aws.clients import client
from stresslab.aws.env import one_line, read_env
from stresslab.aws.evaluation import evaluate_run
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.results import S3Results
from stresslab.aws.store import DynamoRunStore
from stresslab.business import load_price_table

logger, tracer, metrics = powertools("evaluate")


class EvaluateEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    RESULTS_BUCKET: Annotated[str, Field(min_length=3)]
    SETTLE_TIMEOUT_S: Annotated[float, Field(ge=0, le=600)] = 30.0


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
    try:
        request = EvaluateEvent.model_validate(event)
    except ValidationError as error:
        raise ValueError(one_line(error, "evaluate event: ")) from None
    evaluation = evaluate_run(
        request.run_id, DynamoRunStore(client("dynamodb"), env.TABLE_NAME),
        S3Results(client("s3"), env.RESULTS_BUCKET),
        StopFlags(client("dynamodb"), env.TABLE_NAME), load_price_table(),
        settle_timeout_s=env.SETTLE_TIMEOUT_S,
    )
    metrics.add_metric(name="RunsEvaluated", unit=MetricUnit.Count, value=1)
    logger.info("run evaluated", extra=evaluation.model_dump())
    return evaluation.model_dump()
