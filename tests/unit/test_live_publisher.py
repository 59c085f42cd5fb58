"""The live publisher of a local run: one tick per closed second of the plan, its last one (the
drain) and any past it once the run is over, and a viewer that cannot be reached counted,
never fatal."""

from __future__ import annotations

from typing import Any

from stresslab.local.live_publisher import LivePublisher
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import WindowStats
from tests.run_parts import run_parts


def aggregator_with(seconds: range) -> RunAggregator:
    aggregator = RunAggregator("r1", [10.0] * 10)
    for second in seconds:
        stats = WindowStats()
        stats.scheduled = stats.sent = stats.ok = 10
        aggregator.add(stats.to_batch("r1", "w0", 0, 0, second, second))
    return aggregator


def closed_after_grace(second: int, elapsed: float) -> bool:
    return elapsed >= second + 1.5


def ticks(messages: list[dict[str, Any]]) -> list[int]:
    return [m["second"] for m in messages if m["type"] == "tick"]


def test_a_tick_goes_out_once_for_each_closed_second_then_the_drain_at_the_end() -> None:
    # Given a 10 s plan whose workers reported seconds 0-11 (two past the plan: the drain)
    _, _, recorder, publisher, _ = run_parts()
    aggregator = aggregator_with(range(12))
    # When 3.6 s have passed, twice
    publisher.publish_ticks(aggregator, 3.6, 10, closed_after_grace, lambda s: [])
    publisher.publish_ticks(aggregator, 3.6, 10, closed_after_grace, lambda s: [])
    # Then seconds 0-2 went out, once each
    assert ticks(recorder.messages) == [0, 1, 2]
    # And late in the run only the plan's seconds before its last go out (the last holds the
    # drain); once over, every second seen
    publisher.publish_ticks(aggregator, 30.0, 10, closed_after_grace, lambda s: [])
    assert ticks(recorder.messages) == list(range(9))
    publisher.publish_ticks(aggregator, None, 10, closed_after_grace, lambda s: ["latency:geo"])
    assert ticks(recorder.messages) == list(range(12))
    assert recorder.messages[-1]["faults_active"] == ["latency:geo"]


def test_a_viewer_that_cannot_be_reached_is_counted_and_the_run_goes_on() -> None:
    _, _, recorder, publisher, notes = run_parts()
    recorder.broken = True
    publisher.announce("run_started", 0.0, status="running")
    notes.trouble("the target is slow")
    assert publisher.failures == 2 and notes.items == ["the target is slow"]
    assert publisher.failure_notes() == ["2 live messages could not be published"]


def test_without_viewers_nothing_is_built_or_sent() -> None:
    _, clock, _, publisher, _ = run_parts()
    quiet = LivePublisher(publisher.feed, None, clock)
    quiet.publish_ticks(aggregator_with(range(3)), None, 10, closed_after_grace, lambda s: [])
    quiet.announce("run_started", 0.0)
    assert not quiet.watched and quiet.failures == 0 and quiet.failure_notes() == []


def test_the_last_planned_second_goes_out_once_the_run_is_over_with_every_final_batch() -> None:
    # Given a 10 s plan whose workers reported seconds 0-9, one worker's final batch not yet
    _, _, recorder, publisher, _ = run_parts()
    aggregator = aggregator_with(range(10))
    # When the run goes on long after the plan's end
    publisher.publish_ticks(aggregator, 30.0, 10, closed_after_grace, lambda s: [])
    # Then the last planned second waits: it holds the workers' drain
    assert ticks(recorder.messages) == list(range(9))
    # When the final batch (the drain) comes in, and the run is over
    late = WindowStats()
    late.scheduled = late.sent = late.ok = 7
    aggregator.add(late.to_batch("r1", "w1", 0, 1, 9, 9, final=True))
    publisher.publish_ticks(aggregator, None, 10, closed_after_grace, lambda s: [])
    # Then it goes out once, with every batch in its totals
    assert ticks(recorder.messages) == list(range(10))
    last = recorder.messages[-1]
    assert last["totals"]["ok"] == aggregator.totals.ok == 107 and last["window"]["ok"] == 17


def test_each_tick_says_when_its_window_ended_and_when_it_was_sent() -> None:
    # Given a run that started at 100 s (epoch), now 3.6 s in
    fake, _, recorder, publisher, _ = run_parts()
    fake.advance(3.6)
    # When the closed seconds are published
    publisher.publish_ticks(aggregator_with(range(4)), 3.6, 10, closed_after_grace, lambda s: [])
    # Then each tick carries its window's end and the moment it went out (for the latency bench)
    sent = [m for m in recorder.messages if m["type"] == "tick"]
    assert [(m["second"], m["window_end_epoch"], m["published_epoch"]) for m in sent] == [
        (0, 101.0, 103.6), (1, 102.0, 103.6), (2, 103.0, 103.6)]
