"""Aggregator: a Kinesis batch of MetricsBatches merged once, per second; closed seconds ticked,
their alarm metrics flushed, and only then pushed to the viewers."""

from __future__ import annotations

import time
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
from lambdas.run_metrics import RunSecondMetrics
from stresslab.aws.aggregation import (
    GRACE_S,
    LiveTicker,
    advance_runs,
    alarm_readings,
    decode_record,
    publish,
)
from stresslab.aws.broadcast import MAX_CONNECTIONS, ApiGatewayBroadcaster
from stresslab.aws.clients import client
from stresslab.aws.env import read_env
from stresslab.aws.store import DynamoRunStore
from stresslab.judgement.business import load_price_table
from stresslab.measurement.metrics import MetricsBatch

logger, tracer, metrics = powertools("aggregator")
# Time kept back from the pushes so the invocation always returns its batch failures.
RETURN_MARGIN_S = 3.0


class AggregatorEnv(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    TABLE_NAME: Annotated[str, Field(min_length=1)]
    WS_ENDPOINT: Annotated[str, Field(pattern=r"^https://")]
    TICK_GRACE_S: Annotated[float, Field(ge=0, le=300)] = GRACE_S
    MAX_CONNECTIONS: Annotated[int, Field(ge=1, le=10_000)] = MAX_CONNECTIONS


@cache
def _deps() -> tuple[DynamoRunStore, LiveTicker, ApiGatewayBroadcaster]:
    env = read_env(AggregatorEnv)
    store = DynamoRunStore(client("dynamodb"), env.TABLE_NAME)
    broadcaster = ApiGatewayBroadcaster(client("apigatewaymanagementapi", env.WS_ENDPOINT), store,
                                        max_connections=env.MAX_CONNECTIONS)
    return store, LiveTicker(store, load_price_table(), grace_s=env.TICK_GRACE_S), broadcaster


@cache
def _run_metrics() -> RunSecondMetrics:
    return RunSecondMetrics(_deps()[0])


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    store, ticker, broadcaster = _deps()
    batches: list[MetricsBatch] = []

    def record_handler(record: KinesisStreamRecord) -> None:
        batches.append(decode_record(record.kinesis.data_as_bytes()))

    # A processor per invocation: it holds the batch's records, and a process that serves
    # invocations on several threads (the emulation, the tests) must not mix them up.
    processor = BatchProcessor(event_type=EventType.KinesisDataStreams)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    # A failed merge raises: the whole batch is retried, and the markers make that safe.
    outcome = store.merge_batches(batches)
    merged = outcome.runs
    ticked = advance_runs(ticker, {b.run_id: merged.get(b.run_id, set()) for b in batches})
    closed = [t for t in ticked if not t.correction]  # a correction's second was counted once
    metrics.add_metric(name="BatchesMerged", unit=MetricUnit.Count, value=len(outcome.merged))
    metrics.add_metric(name="DuplicateBatches", unit=MetricUnit.Count, value=outcome.duplicates)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count,
                       value=len(response.get("batchItemFailures", [])))
    metrics.add_metric(name="PartialSeconds", unit=MetricUnit.Count,
                       value=sum(1 for t in closed if t.partial))
    for name, value in alarm_readings(t.tick for t in closed):
        unit = MetricUnit.Percent if name == "ErrorRate" else MetricUnit.Milliseconds
        metrics.add_metric(name=name, unit=unit, value=value)
    # The safety alarms read these: out before any push, which a large audience can slow.
    metrics.flush_metrics()
    try:
        _run_metrics().emit(ticked)
    except Exception:  # noqa: BLE001 - dashboards of the run's seconds never cost its pushes
        logger.exception("run metrics for %d ticked seconds failed", len(ticked))
    remaining_s = context.get_remaining_time_in_millis() / 1000
    publish(broadcaster, ticked, deadline=time.monotonic() + remaining_s - RETURN_MARGIN_S)
    return dict(response)
