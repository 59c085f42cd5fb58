"""Adapters with fake boto3 clients: retries, partial failures, 410 handling, JWT checks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from botocore.exceptions import ClientError

from stresslab.aws.broadcast import ApiGatewayBroadcaster
from stresslab.aws.kinesis import Backoff, KinesisMetricsSink, KinesisTarget, MetricsNotDelivered
from stresslab.measurement.metrics import MetricsBatch

NO_WAIT = Backoff(attempts=3, base_s=0.0, cap_s=0.0)


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Call")


class FlakyKinesis:
    def __init__(self, fail_times: int) -> None:
        self.fail_times = fail_times
        self.put: list[dict[str, Any]] = []

    def put_record(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_times:
            self.fail_times -= 1
            raise client_error("ProvisionedThroughputExceededException")
        self.put.append(kwargs)
        return {"SequenceNumber": "1", "ShardId": "s"}


async def no_sleep(_: float) -> None:
    return None


def test_metrics_sink_retries_then_delivers() -> None:
    kinesis = FlakyKinesis(fail_times=2)
    sink = KinesisMetricsSink(kinesis, "m", NO_WAIT, sleep=no_sleep)

    asyncio.run(sink.emit(MetricsBatch(run_id="r", worker_id="w0-s1", seq=0, window=0)))

    assert sink.retries == 2 and kinesis.put[0]["PartitionKey"] == "w0-s1"


def test_metrics_sink_raises_after_its_retries_instead_of_dropping() -> None:
    sink = KinesisMetricsSink(FlakyKinesis(fail_times=99), "m", NO_WAIT, sleep=no_sleep)

    with pytest.raises(MetricsNotDelivered, match="batch w0-s1#7 not delivered to m"):
        asyncio.run(sink.emit(MetricsBatch(run_id="r", worker_id="w0-s1", seq=7, window=0)))


class PartialKinesis:
    """Throttles every other record on the first call; rejects 'bad' records for good."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        first = not self.calls
        self.calls.append(len(Records))
        results = []
        for index, record in enumerate(Records):
            if b"bad" in record["Data"]:
                results.append({"ErrorCode": "KMSAccessDeniedException", "ErrorMessage": "no"})
            elif first and index % 2:
                results.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                "ErrorMessage": "slow down"})
            else:
                results.append({"SequenceNumber": str(index), "ShardId": "shardId-0"})
        return {"FailedRecordCount": 0, "Records": results}


def test_kinesis_target_retries_only_the_failed_records_and_answers_each() -> None:
    kinesis = PartialKinesis()

    async def send() -> list[str]:
        async with KinesisTarget(kinesis, "in", backoff=NO_WAIT) as target:
            payloads = [{"transaction_id": f"t{i}"} for i in range(6)] + [{"transaction_id": "bad"}]
            return [o.kind for o in await asyncio.gather(*[target.send(p) for p in payloads])]

    kinds = asyncio.run(send())

    assert kinds == ["ok"] * 6 + ["other"]
    assert kinesis.calls == [7, 3]


class Registry:
    def __init__(self, ids: list[str]) -> None:
        self.ids = ids
        self.deleted: list[str] = []

    def connections(self, limit: int | None = None) -> list[tuple[str, str]]:
        return [(c, "operator" if c.startswith("op") else "viewer") for c in self.ids][:limit]

    def delete_connection(self, connection_id: str) -> None:
        self.deleted.append(connection_id)


class Management:
    def __init__(self) -> None:
        self.posted: list[str] = []

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        if ConnectionId == "gone":
            raise client_error("GoneException", 410)
        if ConnectionId == "broken":
            raise client_error("LimitExceededException", 429)
        self.posted.append(ConnectionId)


def test_broadcast_removes_gone_connections_and_counts_other_failures() -> None:
    registry, management = Registry(["a", "gone", "broken", "op1"]), Management()

    result = ApiGatewayBroadcaster(management, registry).broadcast("{}")
    operators = ApiGatewayBroadcaster(management, registry).broadcast(
        "{}", roles=frozenset({"operator"}))

    assert (result.sent, result.gone, result.failed) == (2, ["gone"], ["broken"])
    assert registry.deleted == ["gone"]
    assert operators.sent == 1
