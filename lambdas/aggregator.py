"""Aggregator: Kinesis MetricsBatches merged once per (worker, seq), then a live tick pushed."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from pydantic import BaseModel, ConfigDict, Field

from lambdas._powertools import powertools
from stresslab.aws.aggregation import (
    LiveTicker,
    MergeReport,
    alarm_readings,
    merge_record,
    push_ticks,
)
from stresslab.aws.broadcast import ApiGatewayBroadcaster
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.store import DynamoRunStore
from stresslab.business import load_price_table

logger, tracer, metrics = powertools("aggregator")
processor = BatchProcessor(event_type=EventType.KinesisDataStreams)


class AggregatorEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    WS_ENDPOINT: Annotated[str, Field(pattern=r"^https://")]


@cache
def _deps() -> tuple[DynamoRunStore, LiveTicker]:
    env = read_env(AggregatorEnv)
    store = DynamoRunStore(client("dynamodb"), env.TABLE_NAME)
    broadcaster = ApiGatewayBroadcaster(client("apigatewaymanagementapi", env.WS_ENDPOINT), store)
    return store, LiveTicker(store, broadcaster, load_price_table())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store, ticker = _deps()
    report = MergeReport()

    def record_handler(record: KinesisStreamRecord) -> None:
        merge_record(store, record.kinesis.data_as_bytes(), report)

    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    failures = len(response.get("batchItemFailures", []))
    metrics.add_metric(name="BatchesMerged", unit=MetricUnit.Count, value=report.merged)
    metrics.add_metric(name="DuplicateBatches", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=failures)
    for name, value in alarm_readings(push_ticks(ticker, report)):
        unit = MetricUnit.Percent if name == "ErrorRate" else MetricUnit.Milliseconds
        metrics.add_metric(name=name, unit=unit, value=value)
    return dict(response)
