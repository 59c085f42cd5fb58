"""The aggregator's per-second run metrics, as the EMF documents Powertools prints to stdout
(its documented way to test metrics), against the batches the handler was fed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lambdas import aggregator, plan
from stresslab.measurement.metrics import ERROR_CLASSES, MetricsBatch, WindowStats, record_us

from .sfn_harness import FakeContext
from .world import World

RUN = "emf-1"


def batch(worker: str, seq: int, window: int, ok: int, errors_5xx: int = 0,
          final: bool = False) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = ok + errors_5xx
    stats.ok = ok
    stats.errors["http_5xx"] += errors_5xx
    for i in range(ok):
        record_us(stats.latency, 0.001 * (i + 1))
    stats.record_decision("approve", False, False, "legit", 10.0)
    return stats.to_batch(RUN, worker, 0, int(worker[-1]), seq, window, final=final)


def record(sequence: int, data: MetricsBatch) -> dict[str, Any]:
    return {"SequenceNumber": f"{sequence:056d}", "PartitionKey": "k",
            "Data": data.model_dump_json(by_alias=True).encode(),
            "ApproximateArrivalTimestamp": datetime.now(UTC)}


def emf_documents(text: str) -> list[dict[str, Any]]:
    documents = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line and '"RunId"' in line:
            document = json.loads(line)
            # Powertools writes each metric's values as a list; one value a second here
            names = {m["Name"] for d in document["_aws"]["CloudWatchMetrics"]
                     for m in d["Metrics"]}
            for name in names:
                assert isinstance(document[name], list) and len(document[name]) == 1
                document[name] = document[name][0]
            documents.append(document)
    return documents


def test_each_ticked_second_is_one_emf_document_with_the_run_and_scenario_only(
        aws: World, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a planned 3 s run over two workers, and every batch of it, one second with errors
    plan.handler({"input": {"scenario": {"name": "emf-scenario", "phases": [
        {"shape": "constant", "tps": 10, "duration": "3s"}]},
        "target_url": "http://127.0.0.1:9/v1/score"}, "run_id": RUN}, FakeContext())
    batches = [batch("w0-s0", 0, 0, 5), batch("w0-s1", 0, 0, 6),
               batch("w0-s0", 1, 1, 5, errors_5xx=2), batch("w0-s1", 1, 1, 3),
               batch("w0-s0", 2, 2, 4, final=True), batch("w0-s1", 2, 2, 3, final=True)]
    capsys.readouterr()

    # When the aggregator merges them and ticks the seconds
    aggregator.handler(aws.kinesis_event([record(i, b) for i, b in enumerate(batches)]),
                       FakeContext())

    # Then each second is one EMF document in the stack's namespace, dimensions RunId and
    # Scenario only, stamped with the end of that second of the run
    documents = emf_documents(capsys.readouterr().out)
    assert [d["second"] for d in documents] == [0, 1, 2]
    started = _run_started_at(aws)
    for document in documents:
        directive = document["_aws"]["CloudWatchMetrics"]
        assert [d["Namespace"] for d in directive] == ["stresslab-test"]
        assert [d["Dimensions"] for d in directive] == [[["RunId", "Scenario"]]]
        assert (document["RunId"], document["Scenario"]) == (RUN, "emf-scenario")
        assert "service" not in document
        assert document["_aws"]["Timestamp"] == int((started + document["second"] + 1) * 1000)
        units = {m["Name"]: m["Unit"] for d in directive for m in d["Metrics"]}
        assert units["Sent"] == "Count" and units["LatencyP99"] == "Milliseconds"
        assert units["AchievedTPS"] == "Count/Second" and units["Accuracy"] == "Percent"
    # And the values are the batches' own, second by second
    for document, second in zip(documents, range(3), strict=True):
        fed = [b for b in batches if b.window == second]
        assert document["Sent"] == document["AchievedTPS"] == sum(b.sent for b in fed)
        assert document["Ok"] == sum(b.ok for b in fed)
        assert document["Errors"] == document["Errors_http_5xx"] == sum(
            b.errors.http_5xx for b in fed)
        assert all(document[f"Errors_{cls}"] == 0 for cls in ERROR_CLASSES if cls != "http_5xx")
        assert document["Timeouts"] == 0 and document["TargetTPS"] == 10
        assert document["Accuracy"] == 100.0  # every labelled decision right, run so far
        assert document["DegradationLevel"] == 0 and document["FaultsActive"] == 0
        assert document["partial"] is False
    assert documents[0]["LatencyP99"] == pytest.approx(6.0, rel=0.01)  # 1..6 ms, 1..5 ms
    assert documents[2]["LatencyP50"] == pytest.approx(2.0, rel=0.01)  # 1..4 ms, 1..3 ms


def _run_started_at(aws: World) -> float:
    from stresslab.aws.store import DynamoRunStore

    from .world import TABLE

    return float(DynamoRunStore(aws.client("dynamodb"), TABLE).get_run(RUN)["run_started_at"])
