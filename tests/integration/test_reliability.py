"""stresslab under failure: killed workers, an aggregator rebuilt from the store, dashboards that
reconnect, a reference service killed under load, and degradation applied to the target."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from stresslab.generation.plan import plan_run
from stresslab.local.reference_process import ReferenceService
from stresslab.local.runner import LocalRun, LocalRunOptions
from stresslab.local.store import SqliteRunStore
from stresslab.local.worker_process import resume_assignments
from stresslab.measurement.aggregate import (
    RunAggregator,
    accuracy_of,
    aggregator_from_batches,
    latency_ms,
)
from stresslab.measurement.metrics import MetricsBatch, WindowStats, record_us
from stresslab.scenario.spec import parse_scenario
from tests.viewer import Message, Viewer

pytestmark = pytest.mark.timeout(120)


def scenario(tps: int = 150, duration: int = 6, **extra: object):
    return parse_scenario({
        "name": "reliability",
        "workers": 2,
        "phases": [{"shape": "constant", "tps": tps, "duration": duration}],
        "criteria": ["lost == 0"],
        **extra,
    }, "test")


def once_at(second: int, action: Callable[[], None]) -> Callable[[dict[str, Any]], None]:
    """An on_second callback that acts once, when `second` has closed."""
    done: list[bool] = []

    def on_second(row: dict[str, Any]) -> None:
        if row["second"] >= second and not done:
            done.append(True)
            action()

    return on_second


def answered(counts: dict[str, Any]) -> int:
    return counts["ok"] + counts["errors"] + counts["timeouts"]


# ------------------------------------------------------------------------- a worker killed


def test_a_replacement_takes_the_rest_of_its_shard_under_new_ids_where_it_joins_midway():
    # Given shard 1 of a run in three waves of 10 s
    plan = plan_run(scenario(duration=30), "run-1", max_wave_s=10)
    shard = [a for a in plan.assignments(run_started_at=0.0) if a.shard == 1]
    # When its second replacement resumes at 14 s
    resumed = resume_assignments(shard, 14, attempt=2)
    # Then the first wave is over, the second goes on from 14 s under a new id, the third
    # keeps its planned id (nobody has sent for it yet)
    assert [(a.worker_id, a.start_s, a.end_s) for a in resumed] == [
        ("w1-s1-a2", 14, 20), ("w2-s1", 20, 30)]
    assert resume_assignments(shard, 30, attempt=1) == []


async def test_a_worker_killed_mid_run_is_replaced_and_accounted_for(tmp_path):
    # Given a 10 s run on two workers, the second worker is SIGKILLed once second 1 has closed
    # (10 s: a replacement process takes seconds to start on a busy machine, and one that
    # starts after the run's end has nothing left to run)
    run: LocalRun

    def kill_second_worker() -> None:
        os.kill(run.worker_pids[1], signal.SIGKILL)

    run = LocalRun(LocalRunOptions(spec=scenario(duration=10), db_path=tmp_path / "runs.db",
                                   progress=False, on_second=once_at(1, kill_second_worker)))
    # When it runs
    result = await run.execute()
    summary, counts = result.summary, result.summary["counts"]

    # Then the run carried on: the shard resumed under a new worker id and finished
    assert summary["status"] == "completed"
    report = summary["workers_report"]
    assert report["failed"] == ["w0-s1"] and report["expected"] == 2
    assert report["finished"] == 2  # w0-s0 and its replacement
    store = SqliteRunStore(tmp_path / "runs.db")
    workers = {b.worker_id for b in store.batches(result.run_id)}
    assert workers == {"w0-s0", "w0-s1", "w0-s1-a1"}
    # (each worker reports each of its seconds once, the last one with its drained answers,
    # however late its process runs: both report the run's last second)
    assert {row["second"]: row for row in result.series}[9]["active_workers"] == 2
    assert max(row["second"] for row in result.series) == 9

    # And what the dead worker never reported is stated, and accounts for the whole gap
    (death,) = [n for n in summary["notes"] if n.startswith("worker w0-s1 ")]
    assert "killed by SIGKILL" in death and "resumed as w0-s1-a1" in death
    unreported = int(death.split(": ")[1].split(" of its arrivals")[0])
    assert unreported > 0
    assert counts["scheduled"] + unreported == 1500
    # And what was reported reconciles; the target saw at most the unreported ones on top
    assert counts["scheduled"] == counts["sent"] + counts["dropped"]
    assert 0 <= counts["sent"] - answered(counts) <= unreported
    assert counts["sent"] <= counts["target_received"] <= counts["sent"] + unreported
    assert summary["passed"] is False  # a run that lost sight of requests does not pass


# --------------------------------------------------------------- the aggregator restarted


def batch(rng: random.Random, worker: str, seq: int, window: int) -> MetricsBatch:
    stats = WindowStats()
    sent = rng.randint(20, 60)
    stats.scheduled, stats.dropped = sent + 2, 2
    stats.sent = sent
    stats.errors["http_5xx"] = rng.randint(0, 3)
    stats.timeouts = rng.randint(0, 1)
    stats.ok = sent - stats.errors["http_5xx"] - stats.timeouts
    for i in range(stats.ok):
        record_us(stats.latency, rng.uniform(0.002, 0.4))
        record_us(stats.lag, rng.uniform(0.0, 0.01))
        fraud = i % 7 == 0
        stats.record_decision("block" if fraud else "approve", fraud, fraud,
                              "card_testing" if fraud else "normal", rng.uniform(5, 900))
        stats.record_agent("compliance", rng.uniform(0.001, 0.02), failed=False)
    return stats.to_batch("run-1", worker, 0, int(worker[-1]), seq, window,
                          final=window == 9)


def comparable(aggregator: RunAggregator) -> Any:
    totals = aggregator.totals
    return {
        "counts": (totals.scheduled, totals.sent, totals.ok, totals.timeouts, totals.dropped,
                   dict(totals.errors)),
        "latency": latency_ms(totals),
        "accuracy": accuracy_of(totals),
        "seconds": [aggregator.second_row(s) for s in sorted(aggregator.seconds)],
        "workers": {w: (s.last_window, s.batches, s.finished)
                    for w, s in sorted(aggregator.workers.items())},
    }


def test_an_aggregator_rebuilt_from_the_store_mid_stream_ends_with_identical_totals(tmp_path):
    # Given three workers' ten seconds of batches, arriving interleaved, with redeliveries
    rng = random.Random(7)
    batches = [batch(rng, f"w0-s{w}", window, window) for window in range(10) for w in range(3)]
    arrivals = batches + [batches[4], batches[17], batches[4]]
    random.Random(3).shuffle(arrivals)
    # And an aggregation that runs uninterrupted
    uninterrupted = RunAggregator("run-1", [100.0] * 10)
    uninterrupted.add_all(arrivals)

    # When another one stores and aggregates the first half, crashes, is rebuilt from the
    # store, and carries on with the rest (the batches it held in memory are gone)
    store = SqliteRunStore(tmp_path / "runs.db")
    half = len(arrivals) // 2
    crashed = RunAggregator("run-1", [100.0] * 10)
    store.add_batches(arrivals[:half])
    crashed.add_all(arrivals[:half])
    rebuilt = aggregator_from_batches("run-1", [100.0] * 10, store.batches("run-1"))
    # (a batch in flight at the crash is delivered again after it)
    for item in [arrivals[half - 1], *arrivals[half:]]:
        store.add_batches([item])
        rebuilt.add(item)

    # Then the totals, every second and every worker's state are the same
    assert comparable(rebuilt) == comparable(uninterrupted)
    assert rebuilt.totals.sent == sum(b.sent for b in batches)
    # And the store holds each batch once
    assert len(list(store.batches("run-1"))) == len(batches)
    store.close()


async def test_a_run_whose_aggregator_restarts_loses_and_double_counts_nothing(tmp_path):
    # Given a run whose aggregator is thrown away and rebuilt from the store twice, with
    # batches it had already counted delivered to it again each time (and some garbage)
    run: LocalRun

    def restart_and_redeliver() -> None:
        stored = list(SqliteRunStore(tmp_path / "runs.db").batches(run.run_id))
        run.restart_aggregator()
        for again in stored[:3]:
            run.accept_batch(again.model_dump_json(by_alias=True))
        run.accept_batch('{"schema": "stresslab.metrics/v1", "run_id": ')

    restarts = [once_at(1, restart_and_redeliver), once_at(3, restart_and_redeliver)]
    run = LocalRun(LocalRunOptions(
        spec=scenario(), db_path=tmp_path / "runs.db", progress=False,
        on_second=lambda row: [on_second(row) for on_second in restarts] and None,
    ))
    # When it runs
    result = await run.execute()
    counts = result.summary["counts"]
    # Then every planned arrival is counted exactly once, as the target saw them
    assert counts["scheduled"] == 900
    assert counts["sent"] == counts["target_received"] == answered(counts)
    assert counts["reconciled"] is True
    assert counts["duplicate_batches"] >= 3  # the last round of redeliveries, ignored
    # And the totals equal those rebuilt from the store from scratch
    stored = aggregator_from_batches(result.run_id, run.plan.expected_per_second,
                                     SqliteRunStore(tmp_path / "runs.db").batches(result.run_id))
    assert comparable(stored)["counts"] == comparable(run.aggregator)["counts"]
    assert sum(row["sent"] for row in result.series) == counts["sent"]
    # And the unreadable messages were left out, and said so
    assert result.summary["notes"] == [
        "2 metrics batches from workers were unreadable and left out"]


# --------------------------------------------------------- a dashboard that reconnects

TOKEN = "reliability-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def tick_at(run_id: str, second: int) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "tick" and m["run_id"] == run_id and m["second"] >= second


def run_stopped(m: Message) -> bool:
    return m["type"] == "event" and m["event"] == "run_stopped"


async def test_a_dashboard_that_reconnects_mid_run_catches_up_without_duplicates(server):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        # Given a run under way, watched from start to end by one dashboard
        async with http.post(f"{server.url}/api/runs", headers=AUTH,
                             json={"scenario": "smoke", "tps": 40, "duration": "7s"}) as response:
            assert response.status == 202
            run_id = (await response.json())["run_id"]
        steady = Viewer(await http.ws_connect(f"{server.url}/ws"))
        # And another that sees the first seconds, then loses its connection
        flaky = Viewer(await http.ws_connect(f"{server.url}/ws"))
        await flaky.wait_for(tick_at(run_id, 1))
        await flaky.close()
        before = flaky.seconds(run_id)

        # When it reconnects a few seconds later
        await steady.wait_for(tick_at(run_id, before[-1] + 2))
        back = Viewer(await http.ws_connect(f"{server.url}/ws"))
        snapshot = await back.wait_for(lambda m: m["type"] == "snapshot")
        await back.wait_for(run_stopped)
        await steady.wait_for(run_stopped)

        # Then its snapshot holds the whole history so far: more than it had seen, in order
        history = [t["second"] for t in snapshot["history"]]
        assert snapshot["run"]["run_id"] == run_id
        assert history == list(range(len(history))) and len(history) > len(before)
        assert history[: len(before)] == before
        # And the ticks after it follow on with nothing repeated or skipped
        caught_up = back.seconds(run_id)
        assert caught_up == steady.seconds(run_id)
        assert caught_up == list(range(len(caught_up))) and len(caught_up) >= 7
        # And it has the same numbers as the viewer that never left
        assert snapshot["history"][-1] == steady.tick(run_id, history[-1])
        await back.close()
        await steady.close()


# ------------------------------------------------- the reference service killed and restarted


@pytest.fixture
async def reference() -> AsyncIterator[ReferenceService]:
    service = await ReferenceService.start()
    yield service
    await service.stop()


async def test_a_reference_service_killed_under_load_is_restarted_and_the_gap_reported(
    tmp_path, reference
):
    # Given a 7 s run against the reference service, which is SIGKILLed once second 1 has closed
    port = reference.base_url.rsplit(":", 1)[1]
    killed: list[int] = []

    def kill_target() -> None:
        killed.append(reference.pid)
        os.kill(reference.pid, signal.SIGKILL)

    run = LocalRun(LocalRunOptions(spec=scenario(tps=100, duration=7), reference=reference,
                                   db_path=tmp_path / "runs.db", progress=False,
                                   on_second=once_at(1, kill_target)))
    # When it runs
    result = await run.execute()
    summary, counts = result.summary, result.summary["counts"]

    # Then the service was started again on the same port and the run carried on to its end
    assert reference.restarts == 1 and reference.pid != killed[0]
    assert reference.base_url.endswith(f":{port}") and not reference.exited
    assert summary["status"] == "completed" and counts["scheduled"] == 700
    by_second = {row["second"]: row for row in result.series}
    assert by_second[5]["ok"] > 80 and by_second[6]["ok"] > 80
    # And the report shows the gap: connection errors while it was down, and a note
    refused = sum(row["errors_by_class"]["connect"] for row in result.series)
    assert refused > 0 and counts["errors_by_class"]["connect"] == refused
    assert by_second[0]["errors"] == 0
    (outage,) = [n for n in summary["notes"] if n.startswith("the reference service died")]
    assert "killed by signal 9" in outage and "restarted on the same port" in outage
    assert f"{refused} connection errors" in outage
    # And the target's own count, lost with the killed process, is left out, not guessed
    assert counts["target_received"] is None
    assert any(n.startswith("target_received is not known") for n in summary["notes"])
    # And every request sent has its outcome
    assert counts["sent"] == answered(counts) and counts["reconciled"] is True


# ---------------------------------------------------------- degradation applied to the target


class Recorder:
    """A Broadcaster that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, message: str) -> None:
        self.messages.append(json.loads(message))


async def poll_level(reference: ReferenceService, seen: list[str]) -> None:
    while True:
        seen.append((await reference.admin.call("GET", "/admin/degradation"))["level"])
        await asyncio.sleep(0.05)


async def test_failing_agents_raise_the_level_the_target_degrades_and_recovers(
    tmp_path, reference
):
    # Given every agent failing from 1 s to 3 s of an 8 s run, with degradation applied
    spec = scenario(
        tps=100, duration=8,
        faults=[{"type": "agent_errors", "at": 1, "duration": 2, "intensity": 1.0}],
        degradation={"apply": True, "recover_after_s": 2},
    )
    recorder = Recorder()
    run = LocalRun(LocalRunOptions(spec=spec, reference=reference, broadcaster=recorder,
                                   db_path=tmp_path / "runs.db", progress=False))
    # When it runs, with the target's level watched from outside
    seen: list[str] = []
    watcher = asyncio.create_task(poll_level(reference, seen))
    try:
        result = await run.execute()
    finally:
        watcher.cancel()
    summary = result.summary

    # Then the error rate made it CRITICAL, and it came back to NONE once the agents recovered
    changes = summary["degradation"]
    assert changes[0]["level"] == "CRITICAL" and changes[0]["previous"] == "NONE"
    assert changes[0]["reason"].startswith("error rate") and changes[0]["applied"] is True
    assert 1 <= changes[0]["at_s"] <= 4
    assert changes[-1]["level"] == "NONE"
    # And the target was told (emergency mode) and left at NONE after the run
    assert "CRITICAL" in seen
    assert (await reference.admin.call("GET", "/admin/degradation"))["level"] == "NONE"
    # And the dashboards got the changes as events, and the level in every tick
    events = [m for m in recorder.messages if m["type"] == "event"
              and m["event"] == "degradation_changed"]
    assert [e["detail"]["level"] for e in events] == [c["level"] for c in changes]
    levels = [m["degradation"] for m in recorder.messages if m["type"] == "tick"]
    assert levels[0] == "NONE" and "CRITICAL" in levels and levels[-1] == "NONE"
    # And the per-second series carries it too
    assert [row["degradation"] for row in result.series[:8]] == levels[:8]
