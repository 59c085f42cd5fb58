"""Load generator: the core ShardWorker for one shard of one wave, batches onto Kinesis."""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import parse_event, powertools
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.generator import LoadEvent, run_work_item, seconds_left_of, target_opener
from stresslab.aws.health import GeneratorHealth
from stresslab.aws.kill_switch import StopFlags
from stresslab.aws.kinesis import KinesisMetricsSink

logger, tracer, metrics = powertools("load_generator")


class GeneratorEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    METRICS_STREAM_NAME: Annotated[str, Field(min_length=1)]
    TABLE_NAME: Annotated[str, Field(min_length=1)]


@cache
def _env() -> GeneratorEnv:
    return read_env(GeneratorEnv)


@cache
def _session() -> Any:
    """Secrets Manager and SSM for ${secretsmanager:…}/${ssm:…} in the target section."""
    import boto3

    return boto3.session.Session()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    env = _env()
    item = parse_event(event, LoadEvent, "work item").work_item()
    kinesis = client("kinesis")
    try:
        result = asyncio.run(run_work_item(
            item, KinesisMetricsSink(kinesis, env.METRICS_STREAM_NAME),
            target_opener(kinesis, client("secretsmanager"), _session()),
            StopFlags(client("dynamodb"), env.TABLE_NAME), seconds_left_of(context),
            health=GeneratorHealth(),
        ))
    except Exception as error:
        metrics.add_metric(name="ShardsEndedEarly", unit=MetricUnit.Count, value=1)
        logger.warning("shard ended early", extra={"worker_id": item.worker_id,
                                                   "error": f"{type(error).__name__}: {error}"})
        raise
    metrics.add_metric(name="TransactionsSent", unit=MetricUnit.Count, value=result.sent)
    metrics.add_metric(name="TransactionsDropped", unit=MetricUnit.Count, value=result.dropped)
    logger.info("shard done", extra=result.model_dump())
    return result.model_dump()
