"""The aggregator handler under moto as the workers grow: DynamoDB writes per second of run,
the watermark that holds a second's tick until every planned worker closed it, and the alarm
metrics that go out before any push to a (capped) audience."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from lambdas import aggregator, plan
from stresslab.aws import clients
from stresslab.aws.store import DynamoRunStore
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us

from .sfn_harness import FakeContext
from .test_aggregator import record
from .world import TABLE, World, reset_handlers

WRITE_CALLS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SECONDS = 10
BATCH_SIZE = 100  # the Kinesis event source's batch size (stacks/constructs/metrics_pipeline.py)


def plan_workers(run_id: str, workers: int, seconds: int = SECONDS) -> dict[str, Any]:
    planned = plan.handler({"input": {"scenario": {
        "name": run_id, "workers": workers,
        "phases": [{"shape": "constant", "tps": 4 * workers, "duration": f"{seconds}s"}]},
        "target_url": "http://127.0.0.1:9/v1/score"}, "run_id": run_id}, FakeContext())
    assert planned["valid"] and planned["shard_count"] == workers, planned
    return planned


def batch(run_id: str, worker: str, window: int, ok: int, errors: int = 0,
          final: bool = False) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = ok + errors
    stats.ok = ok
    stats.errors["http_5xx"] = errors
    for i in range(ok + errors):
        record_us(stats.latency, 0.002 * (i + 1))
    shard = int(worker.split("-s")[1].split("-")[0])
    return stats.to_batch(run_id, worker, 0, shard, window, window, final=final)


def deliver(aws: World, batches: list[MetricsBatch], remaining_ms: int = 900_000) -> Any:
    context = FakeContext()
    context.remaining_ms = remaining_ms
    records = [record(i, b) for i, b in enumerate(batches)]
    return aggregator.handler(aws.kinesis_event(records), context)


class WriteCounter:
    """botocore event hooks on the handlers' DynamoDB client: write calls and items."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items = 0
        self.run_partition_items = 0
        events = clients.client("dynamodb").meta.events
        events.register("provide-client-params.dynamodb", self._count)

    def _count(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name not in WRITE_CALLS:
            return
        self.calls[model.name] += 1
        if model.name == "TransactWriteItems":
            keys = [next(iter(op.values())) for op in params["TransactItems"]]
            keys = [k.get("Item") or k.get("Key") for k in keys]
        else:
            keys = [params.get("Item") or params.get("Key")]
        self.items += len(keys)
        self.run_partition_items += sum(1 for k in keys if "#W#" not in k["pk"]["S"])

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def many_workers(aws: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("MAX_WORKERS", "64")
    reset_handlers()
    return aws


def run_through_aggregator(aws: World, workers: int) -> tuple[WriteCounter, DynamoRunStore]:
    run_id = f"scale-{workers}"
    planned = plan_workers(run_id, workers)
    # the ticker's clock at the run's start: on a busy machine the deliveries fall behind real
    # time, seconds would tick as partial after the grace and their batches come as corrections
    aggregator._deps()[1].clock = lambda: planned["run_started_at"]
    counter = WriteCounter()
    for second in range(SECONDS):
        # every worker's batch of this second arrives within the source's 1 s batching window
        arrived = [batch(run_id, f"w0-s{w}", second, ok=4, final=second == SECONDS - 1)
                   for w in range(workers)]
        for start in range(0, len(arrived), BATCH_SIZE):
            assert deliver(aws, arrived[start:start + BATCH_SIZE]) == {"batchItemFailures": []}
    return counter, DynamoRunStore(aws.client("dynamodb"), TABLE)


def test_dynamodb_writes_per_second_of_run_stay_flat_from_5_to_50_workers(
    many_workers: World,
) -> None:
    # Given runs of 5, 20 and 50 workers, each sending one batch per second for 10 s
    measured, stores = {}, {}
    for workers in (5, 20, 50):
        # When their batches go through the real aggregator handler, second by second
        counter, store = run_through_aggregator(many_workers, workers)
        run_id = f"scale-{workers}"

        # Then every batch is merged exactly and every second ticked
        total = store.total(run_id)
        assert total is not None and total.batch.sent == 4 * workers * SECONDS
        assert total.batches == workers * SECONDS
        assert all(w.complete for w in store.workers(run_id).values())
        stores[run_id] = store
        measured[workers] = (counter.total / SECONDS, counter.run_partition_items / SECONDS,
                             counter.items / SECONDS, dict(counter.calls))
    print("\nworkers: (write calls/s, run-partition items/s, items/s incl. markers, calls)")
    for workers, numbers in measured.items():
        print(f"{workers:>3}: {numbers}")

    # And the write calls, and the items written to the run's partition, do not grow with
    # workers: one transaction (part + markers) and one tick per second of run
    assert {m[0] for m in measured.values()} == {2.0}
    assert {m[1] for m in measured.values()} == {2.0}
    # (the dedupe markers, one per batch, go to each worker's own partition)
    assert [m[2] for m in measured.values()] == [2.0 + w for w in (5, 20, 50)]
    for run_id, store in stores.items():
        last = store.last_tick(run_id)
        assert last is not None and last[0] == SECONDS - 1


def emf_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()
            if line.startswith("{") and '"_aws"' in line]


def readings(out: str, name: str) -> list[float]:
    return [v for line in emf_lines(out) if line.get("service") == "aggregator"
            for v in line.get(name, [])]


def test_a_second_is_ticked_and_alarmed_only_when_every_planned_worker_closed_it(
    aws: World, capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a run of two workers; the first one's seconds 0 and 1 arrive (half of it errors)
    plan_workers("wm-1", 2, seconds=3)
    capsys.readouterr()
    deliver(aws, [batch("wm-1", "w0-s0", 0, ok=5, errors=5),
                  batch("wm-1", "w0-s0", 1, ok=5, errors=5)])

    # Then nothing is ticked or alarmed on: the other worker has not closed second 0
    assert readings(capsys.readouterr().out, "ErrorRate") == []
    store = DynamoRunStore(aws.client("dynamodb"), TABLE)
    assert store.last_tick("wm-1") is None

    # When the second worker's second 0 arrives (no errors)
    deliver(aws, [batch("wm-1", "w0-s1", 0, ok=10)])

    # Then second 0 is ticked once, on both workers' answers: 5 errors in 20, not 5 in 10
    out = capsys.readouterr().out
    assert readings(out, "ErrorRate") == [25.0]
    assert readings(out, "PartialSeconds") == [0.0]
    last = store.last_tick("wm-1")
    assert last is not None and last[0] == 0 and last[1].batch.sent == 20


def test_a_second_a_worker_never_closes_is_ticked_as_partial_after_the_grace(
    aws: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a run of two workers where only the first one reports second 0
    monkeypatch.setenv("TICK_GRACE_S", "0")
    reset_handlers()
    planned = plan_workers("wm-2", 2, seconds=3)
    capsys.readouterr()
    ticker = aggregator._deps()[1]
    monkeypatch.setattr(ticker, "clock", lambda: planned["run_started_at"] + 1.5)

    # When its batch arrives after second 0 and its grace are over
    deliver(aws, [batch("wm-2", "w0-s0", 0, ok=8, errors=2)])

    # Then second 0 is ticked and alarmed on what arrived, marked partial; second 1 waits
    out = capsys.readouterr().out
    assert readings(out, "ErrorRate") == [20.0]
    assert readings(out, "PartialSeconds") == [1.0]
    last = DynamoRunStore(aws.client("dynamodb"), TABLE).last_tick("wm-2")
    assert last is not None and last[0] == 0


class Audience:
    """Connections registered in the table; records each PostToConnection in `order`."""

    def __init__(self, aws: World, count: int, order: list[str]) -> None:
        store = DynamoRunStore(aws.client("dynamodb"), TABLE)
        for i in range(count):
            store.put_connection(f"conn-{i:03d}", "viewer")
        self.posts: Counter[str] = Counter()
        self._order = order
        api = clients.client("apigatewaymanagementapi", aws.env["WS_ENDPOINT"])
        api.meta.events.register("provide-client-params.apigatewaymanagementapi.PostToConnection",
                                 self._post)

    def _post(self, params: dict[str, Any], **_: Any) -> None:
        self.posts[params["ConnectionId"]] += 1
        self._order.append("post")


def watch_flush(monkeypatch: pytest.MonkeyPatch, order: list[str]) -> None:
    """Record each EMF flush (the metrics the alarms read) in `order`, with its metric names."""
    provider = aggregator.metrics.provider
    flush = provider.flush_metrics

    def recorded(*args: Any, **kwargs: Any) -> None:
        if provider.metric_set:
            order.append("metrics:" + ",".join(sorted(provider.metric_set)))
        flush(*args, **kwargs)

    monkeypatch.setattr(provider, "flush_metrics", recorded)


def test_alarm_metrics_go_out_before_any_push_and_the_audience_is_capped(
    aws: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an audience of 8 connections and a cap of 5 pushes per message
    monkeypatch.setenv("MAX_CONNECTIONS", "5")
    reset_handlers()
    plan_workers("cap-1", 1, seconds=3)
    order: list[str] = []
    audience = Audience(aws, 8, order)
    watch_flush(monkeypatch, order)

    # When two closed seconds are merged
    deliver(aws, [batch("cap-1", "w0-s0", 0, ok=9, errors=1),
                  batch("cap-1", "w0-s0", 1, ok=9, errors=1)])

    # Then its ErrorRate is flushed first, then the tick goes to 5 connections, not 8
    assert order[0].startswith("metrics:") and "ErrorRate" in order[0]
    assert order[1:] and set(order[1:]) == {"post"}
    assert len(audience.posts) == 5


def test_pushes_stop_at_the_deadline_and_the_alarm_metrics_are_out_regardless(
    aws: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a viewer, and an invocation with less time left than the margin kept to return
    plan_workers("late-1", 1, seconds=3)
    order: list[str] = []
    audience = Audience(aws, 1, order)
    watch_flush(monkeypatch, order)

    # When two closed seconds are merged
    response = deliver(aws, [batch("late-1", "w0-s0", 0, ok=10),
                             batch("late-1", "w0-s0", 1, ok=10)], remaining_ms=2_000)

    # Then the alarm metrics are out, no push was attempted, and the batch is reported done
    assert response == {"batchItemFailures": []}
    assert len(order) == 1 and "ErrorRate" in order[0]
    assert not audience.posts
