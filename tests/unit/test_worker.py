"""The open-model worker on a fake clock: on schedule, latency from the intended send time."""

from __future__ import annotations

import pytest

from stresslab.generation.plan import WorkAssignment
from stresslab.generation.worker import ShardWorker, read_field
from stresslab.measurement.metrics import WindowStats
from stresslab.ports import Outcome
from stresslab.scenario.spec import parse_scenario
from tests.fakes import FakeClock, ListSink, ScriptedTarget


def scenario(tps: float, seconds: float, **http: object):
    return parse_scenario({
        "name": "t",
        "phases": [{"shape": "constant", "tps": tps, "duration": seconds}],
        "http": http,
    }, "test")


def assignment(clock: FakeClock, seconds: int, shard: int = 0, shards: int = 1) -> WorkAssignment:
    return WorkAssignment(run_id="run", worker_id=f"w0-s{shard}", wave=0, shard=shard,
                          shards=shards, start_s=0, end_s=seconds, run_started_at=clock.wall())


def merged(sink: ListSink) -> WindowStats:
    total = WindowStats()
    for batch in sink.batches:
        total.add_batch(batch)
    return total


async def run_worker(tps: float, seconds: int, target_factory=None, **http: object):
    clock = FakeClock()
    target = target_factory(clock) if target_factory else ScriptedTarget(clock)
    sink = ListSink()
    worker = ShardWorker(assignment(clock, seconds), scenario(tps, seconds, **http), target,
                         sink, clock)
    totals = await clock.drive(worker.run())
    return clock, target, sink, totals


async def test_sends_every_arrival_on_time_and_reports_each_second():
    # Given a steady 100 TPS for 3 s against a target answering in 2 ms
    _, target, sink, totals = await run_worker(100, 3)
    # Then every arrival went out, with no lag, and one batch per second (plus the final one)
    stats = merged(sink)
    assert stats.scheduled == stats.sent == len(target.received) == 300
    assert stats.ok == 300 and stats.dropped == 0
    assert stats.lag.get_max_value() <= 1
    assert [b.window for b in sink.batches[:3]] == [0, 1, 2]
    assert [b.seq for b in sink.batches] == list(range(len(sink.batches)))
    assert sink.batches[-1].final and not any(b.final for b in sink.batches[:-1])
    assert [b.sent for b in sink.batches[:3]] == [100, 100, 100]
    assert stats.latency.get_value_at_percentile(50) == pytest.approx(2000, rel=0.01)
    assert totals.completed == 300


async def test_latency_counts_the_wait_behind_a_stall():
    # Given a target that serves one request at a time and stalls 500 ms once
    def stall_once(clock):
        state = {"n": 0}

        def service(_payload):
            state["n"] += 1
            return 0.5 if state["n"] == 100 else 0.001
        return ScriptedTarget(clock, service_time=service, serial=True)

    _, _, sink, _ = await run_worker(100, 3, stall_once)
    stats = merged(sink)
    # Then the requests queued behind the stall carry the wait: about 50 of 300 requests
    # waited, so p90 is far above the 1 ms service time (a closed-loop tool would see one slow one)
    assert stats.ok == 300
    assert stats.latency.get_value_at_percentile(90) > 100_000
    assert stats.latency.get_max_value() >= 500_000


async def test_a_full_in_flight_window_drops_and_counts_it():
    # Given a target slower than the rate allows with at most 10 requests in flight
    _, _, sink, totals = await run_worker(
        100, 2, lambda clock: ScriptedTarget(clock, service_time=lambda _: 0.5), max_in_flight=10)
    stats = merged(sink)
    # Then the shortfall is dropped, visibly, and the counts reconcile
    assert stats.dropped > 0
    assert stats.scheduled == stats.sent + stats.dropped == 200
    assert stats.sent == stats.ok + stats.error_total + stats.timeouts
    assert totals.dropped == stats.dropped


async def test_a_stalled_generator_drops_arrivals_past_max_lag():
    # Given a generator that freezes for 2 s once (the clock jumps while it cannot run)
    def freezing(clock):
        state = {"frozen": False}

        def answer(payload):
            if not state["frozen"]:
                state["frozen"] = True
                clock.advance(2.0)
            return Outcome("ok", {"decision": "approve"})
        return ScriptedTarget(clock, answer=answer)

    _, _, sink, _ = await run_worker(100, 4, freezing, max_lag=0.5)
    stats = merged(sink)
    # Then what could not go out within 0.5 s of its time is dropped; the rest is sent late,
    # and the lag is recorded
    assert stats.dropped > 100
    assert stats.scheduled == stats.sent + stats.dropped == 400
    assert stats.lag.get_max_value() >= 400_000


async def test_errors_and_timeouts_are_classified_and_reconcile():
    outcomes = ["ok", "timeout", "http_429", "http_5xx", "connect", "weird"]

    def answer_factory(clock):
        state = {"n": 0}

        def answer(_payload):
            kind = outcomes[state["n"] % len(outcomes)]
            state["n"] += 1
            return Outcome(kind, {"decision": "approve"} if kind == "ok" else None)
        return ScriptedTarget(clock, answer=answer)

    _, _, sink, _ = await run_worker(60, 1, answer_factory)
    stats = merged(sink)
    assert stats.sent == 60
    assert stats.ok == 10 and stats.timeouts == 10
    assert stats.errors["http_429"] == stats.errors["http_5xx"] == stats.errors["connect"] == 10
    assert stats.errors["other"] == 10
    assert stats.sent == stats.ok + stats.error_total + stats.timeouts


async def test_an_answer_without_a_decision_is_an_invalid_response():
    _, _, sink, _ = await run_worker(
        10, 1, lambda clock: ScriptedTarget(clock, answer=lambda _: Outcome("ok", {"x": 1})))
    stats = merged(sink)
    assert stats.ok == 0 and stats.errors["invalid_response"] == 10


async def test_decisions_are_scored_against_the_hidden_label():
    _, target, sink, _ = await run_worker(200, 2)
    stats = merged(sink)
    assert stats.tp + stats.fp + stats.tn + stats.fn == 400
    assert stats.agent_calls == {"transaction_analysis": 400, "compliance": 400}
    for payload in target.received:
        assert "label" not in payload and "is_fraud" not in str(payload)


async def test_shards_split_the_load_between_them():
    clock = FakeClock()
    spec = scenario(300, 2)
    sinks = []
    for shard in range(3):
        sink = ListSink()
        worker = ShardWorker(assignment(clock, 2, shard, 3), spec, ScriptedTarget(clock), sink,
                             clock)
        await clock.drive(worker.run())
        sinks.append(sink)
    assert [merged(s).sent for s in sinks] == [200, 200, 200]


def test_read_field_follows_dotted_paths():
    assert read_field({"a": {"b": "block"}}, "a.b") == "block"
    assert read_field({"a": 1}, "a.b") is None
    assert read_field(None, "a") is None
    assert read_field({"a": "x"}, "a") == "x"
    assert read_field(["a"], "a") is None
    assert read_field({"a": {"b": {"c": 0}}}, "a.b.c") == 0
    assert read_field({"a": {"b": None}}, "a.b.c") is None


def echoing_target(clock):
    """A hostile target: a new decision value and new agent names in every answer."""
    state = {"n": 0}

    def answer(_payload):
        state["n"] += 1
        n = state["n"]
        return Outcome("ok", {
            "decision": "block" if n % 2 else f"txn-{n}",
            "agents": {f"agent-{n}": {"ms": 1.0}, "<img src=x onerror=alert(1)>": {"ms": 2.0},
                       "x" * 500: {"ms": 1.0, "error": True}},
        })
    return ScriptedTarget(clock, answer=answer)


async def test_a_target_echoing_ids_keeps_decisions_and_agents_bounded():
    # Given a target that answers a new decision value and a new agent name every time
    _, _, sink, _ = await run_worker(200, 3, echoing_target)
    stats = merged(sink)
    # Then every answer is still counted once, exactly
    assert stats.ok == stats.sent == 600
    assert sum(stats.decisions.values()) == 600
    assert sum(stats.agent_calls.values()) == 3 * 600
    # and only the first 8 decisions / 16 agents have their own entry; the rest are `other`
    assert len(stats.decisions) == 8 + 1 and stats.decisions["block"] == 300
    assert stats.decisions_folded == stats.decisions["other"] == 300 - 7
    assert len(stats.agent_calls) == 16 + 1 and len(stats.agent_latency) <= 16 + 1
    assert stats.agents_folded == stats.agent_calls["other"] == 600 - 14
    # and names are printable, short and free of markup
    assert "img src=x onerror=alert(1)" in stats.agent_calls
    assert "x" * 64 in stats.agent_calls and stats.agent_errors["x" * 64] == 600
    assert all(len(name) <= 64 and "<" not in name for name in stats.agent_calls)
    assert stats.names_cleaned == 2 * 600
    # and no single batch carried more than the bounds either
    assert all(len(b.agents) <= 17 and len(b.decisions) <= 9 for b in sink.batches)


async def test_answer_bounds_are_configurable_in_the_response_section():
    clock = FakeClock()
    spec = parse_scenario({
        "name": "t", "phases": [{"shape": "constant", "tps": 100, "duration": 1}],
        "response": {"max_decisions": 2, "max_agents": 3, "max_name_length": 8},
    }, "test")
    sink = ListSink()
    await clock.drive(ShardWorker(assignment(clock, 1), spec, echoing_target(clock), sink,
                                  clock).run())
    stats = merged(sink)
    assert len(stats.decisions) == 3 and len(stats.agent_calls) == 4
    assert all(len(name) <= 8 for name in stats.agent_calls)


async def test_absurd_agent_times_are_not_recorded_and_never_stall_the_worker():
    # Given a target reporting agent times of 1e308 ms, negative, NaN-like and boolean
    def absurd(clock):
        return ScriptedTarget(clock, answer=lambda _: Outcome("ok", {
            "decision": "approve",
            "agents": {"a": {"ms": 1e308}, "b": {"ms": -5}, "c": {"ms": True}, "d": {"ms": 2}},
        }))

    # When the worker runs (before, 1e308 ms overflowed and the exchange never finished)
    _, _, sink, totals = await run_worker(50, 1, absurd)
    stats = merged(sink)
    # Then every answer counted, each agent call counted, and only sane times recorded
    assert totals.completed == stats.ok == 50
    assert stats.agent_calls == {"a": 50, "b": 50, "c": 50, "d": 50}
    assert "a" not in stats.agent_latency and "b" not in stats.agent_latency
    assert "c" not in stats.agent_latency
    assert stats.agent_latency["d"].get_total_count() == 50


async def test_answers_drained_after_the_last_second_are_reported_in_it_as_the_final_batch():
    # Given 3 s at 100 TPS against a target answering in 0.5 s: answers come until ~3.5 s
    _, _, sink, _ = await run_worker(
        100, 3, lambda clock: ScriptedTarget(clock, service_time=lambda _: 0.5))
    # Then each planned second has one batch, the last one final and holding the drained
    # answers: nothing lands past the plan, where the live views never look
    assert [b.window for b in sink.batches] == [0, 1, 2]
    assert [b.final for b in sink.batches] == [False, False, True]
    assert merged(sink).ok == 300


async def test_a_generator_stalled_across_its_last_second_still_reports_that_second():
    # Given a generator frozen for 2.5 s by its very last answer (a starved process: the
    # answer is handled before the window ticker gets to run)
    def freezing_at_the_end(clock):
        state = {"n": 0}

        def answer(payload):
            state["n"] += 1
            if state["n"] == 300:
                clock.advance(2.5)
            return Outcome("ok", {"decision": "approve"})
        return ScriptedTarget(clock, answer=answer)

    _, _, sink, _ = await run_worker(100, 3, freezing_at_the_end)
    # Then every planned second still has this worker's batch, the final one in the last
    # second (it used to jump to the second the clock showed, past the plan, skipping 2)
    assert [b.window for b in sink.batches] == [0, 1, 2]
    assert sink.batches[-1].final and merged(sink).ok == 300
