"""What the unit tests of a local run's parts share: a live publisher that records what it
sends, on a run clock driven by a fake clock."""

from __future__ import annotations

import json
from typing import Any

from stresslab.judgement.business import load_price_table
from stresslab.local.live_publisher import LivePublisher, RunNotes
from stresslab.local.run_clock import RunClock
from stresslab.measurement.live import describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.scenario.spec import parse_scenario
from tests.fakes import FakeClock

SPEC = parse_scenario({
    "name": "parts",
    "phases": [{"name": "a", "shape": "constant", "tps": 10, "duration": 10}],
    "faults": [{"type": "latency", "target": "geo", "at": 1, "duration": 2, "label": "slow"},
               {"type": "agent_errors", "target": "fraud", "at": 4, "duration": 1}],
}, "test")


class Recorder:
    """A broadcaster that keeps every message; `broken` makes each publish fail."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.broken = False

    def publish(self, message: str) -> None:
        if self.broken:
            raise ConnectionResetError("viewer gone")
        self.messages.append(json.loads(message))

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == "event"
                and (name is None or m["event"] == name)]


def run_parts(started: bool = True) -> tuple[FakeClock, RunClock, Recorder, LivePublisher,
                                              RunNotes]:
    """A fake clock at 100 s, a run clock that started then, and a recording publisher."""
    fake = FakeClock(start=100.0)
    clock = RunClock(now=fake.now, started=fake.now() if started else None)
    recorder = Recorder()
    feed = LiveFeed(SPEC, describe_run(SPEC, "r1", "2026-12-03T00:00:00Z", "running", "http://t",
                                       [10.0] * 10), load_price_table(), 1.0)
    publisher = LivePublisher(feed, recorder, clock)
    return fake, clock, recorder, publisher, RunNotes(publisher)
