"""LiveTicker with an in-memory store: ticks from the core LiveFeed, phase criteria judged
over the whole phase even though a tick loads only one second."""

from __future__ import annotations

from typing import Any

from stresslab.aws.aggregation import LiveTicker
from stresslab.aws.store import StoredWindow, merged_batch
from stresslab.business import load_price_table
from stresslab.metrics import MetricsBatch, WindowStats
from stresslab.plan import plan_run
from stresslab.spec import parse_scenario

SPEC = parse_scenario({
    "name": "ticks", "phases": [{"name": "warm", "shape": "constant", "tps": 10, "duration": 2},
                                {"name": "hold", "shape": "constant", "tps": 10, "duration": 2}],
    "criteria": [{"expr": "error_rate < 1%", "during": "warm"}, "sent > 0"],
}, "s")


def batch(window: int, ok: int, errors: int) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = ok + errors
    stats.ok = ok
    stats.errors["http_5xx"] = errors
    return stats.to_batch("r1", "w0-s0", 0, 0, window, window)


class Store:
    def __init__(self) -> None:
        self.windows: dict[int, StoredWindow] = {}
        self.total_window: StoredWindow | None = None

    def add(self, b: MetricsBatch) -> None:
        before = self.windows.get(b.window)
        self.windows[b.window] = StoredWindow(
            merged_batch(before.batch if before else None, b, b.window), 1, 1)
        total = self.total_window
        merged = merged_batch(total.batch if total else None, b, 0)
        self.total_window = StoredWindow(merged, 1, 1, peak_sent=max(
            w.batch.sent for w in self.windows.values()))

    def get_run(self, run_id: str) -> dict[str, Any]:
        return {"spec": SPEC.model_dump(mode="json"), "started_at": "2026-01-01T00:00:00Z",
                "status": "running", "target": "http://t",
                "plan": plan_run(SPEC, run_id).model_dump(mode="json"), "faults": []}

    def total(self, run_id: str) -> StoredWindow | None:
        return self.total_window

    def second(self, run_id: str, second: int) -> StoredWindow | None:
        return self.windows.get(second)

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]:
        return {s: w for s, w in self.windows.items() if start <= s < end}

    def infra(self) -> dict[str, Any] | None:
        return {"cost_usd_per_hour": 1.0}


class Sink:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def broadcast(self, message: str, roles: frozenset[str] | None = None) -> None:
        self.messages.append(message)


def test_a_phase_criterion_is_judged_over_the_whole_phase() -> None:
    # Given a bad first second and a clean second second in the 'warm' phase
    store, sink = Store(), Sink()
    store.add(batch(0, ok=5, errors=5))
    store.add(batch(1, ok=10, errors=0))
    store.add(batch(2, ok=10, errors=0))
    ticker = LiveTicker(store, sink, load_price_table())

    # When the second after 'warm' is ticked (LiveFeed judges a phase once it is over)
    tick, events = ticker.tick("r1", 2) or (None, [])

    # Then the phase is judged on both its seconds (5 errors in 20), not on one second alone
    assert tick is not None and tick.second == 2 and tick.totals["sent"] == 30
    assert tick.totals["peak_tps"] == 10 and tick.infra == {"cost_usd_per_hour": 1.0}
    assert [(e.event, e.detail["criterion"]) for e in events] == [
        ("criterion_breached", "error_rate < 1% [phase warm]")]
    assert len(sink.messages) == 2


def test_each_second_is_ticked_once_when_a_later_one_arrives() -> None:
    store, sink = Store(), Sink()
    store.add(batch(0, ok=5, errors=0))
    ticker = LiveTicker(store, sink, load_price_table())

    assert ticker.due("r1", {0}, final=False) is None
    assert ticker.due("r1", {0, 1}, final=False) == 0
    ticker.tick("r1", 0)
    assert ticker.due("r1", {1}, final=False) is None
    assert ticker.due("r1", {1}, final=True) == 1
