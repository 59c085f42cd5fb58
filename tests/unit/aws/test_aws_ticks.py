"""LiveTicker with an in-memory store: ticks from the core LiveFeed, each second once its
planned workers have closed it (or, after the grace, as partial), phase criteria judged over
the whole phase even though a tick loads only one second."""

from __future__ import annotations

from typing import Any

from stresslab.aws.aggregation import LiveTicker, expected_by_second
from stresslab.aws.second_items import StoredWindow, merge_batches_of
from stresslab.generation.plan import plan_run
from stresslab.judgement.business import load_price_table
from stresslab.measurement.metrics import MetricsBatch, WindowStats
from stresslab.scenario.spec import parse_scenario

SPEC = parse_scenario({
    "name": "ticks", "workers": 2,
    "phases": [{"name": "warm", "shape": "constant", "tps": 10, "duration": 2},
               {"name": "hold", "shape": "constant", "tps": 10, "duration": 2}],
    "criteria": [{"expr": "error_rate < 1%", "during": "warm"}, "sent > 0"],
}, "s")
STARTED = 1_000.0


def batch(worker: str, window: int, ok: int, errors: int) -> MetricsBatch:
    stats = WindowStats()
    stats.scheduled = stats.sent = ok + errors
    stats.ok = ok
    stats.errors["http_5xx"] = errors
    return stats.to_batch("r1", worker, 0, 0, window, window)


class Store:
    """The LiveTicker's view of DynamoRunStore, in memory."""

    def __init__(self) -> None:
        self.batches: dict[int, list[MetricsBatch]] = {}
        self.ticks: dict[int, tuple[StoredWindow, bool]] = {}

    def add(self, *batches: MetricsBatch) -> None:
        for b in batches:
            self.batches.setdefault(b.window, []).append(b)

    def get_run(self, run_id: str) -> dict[str, Any]:
        return {"spec": SPEC.model_dump(mode="json"), "started_at": "2026-01-01T00:00:00Z",
                "status": "running", "target": "http://t", "run_started_at": STARTED,
                "plan": plan_run(SPEC, run_id).model_dump(mode="json"), "faults": []}

    def second(self, run_id: str, second: int) -> StoredWindow | None:
        found = self.batches.get(second)
        if not found:
            return None
        return StoredWindow(merge_batches_of(found, run_id, second), len(found), 1,
                            workers=frozenset(b.worker_id for b in found))

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]:
        return {s: w for s in range(start, end) if (w := self.second(run_id, s)) is not None}

    def last_tick(self, run_id: str) -> tuple[int, StoredWindow] | None:
        if not self.ticks:
            return None
        second = max(self.ticks)
        return second, self.ticks[second][0]

    def put_tick(self, run_id: str, second: int, totals: StoredWindow, partial: bool) -> bool:
        if second in self.ticks:
            return False
        self.ticks[second] = (totals, partial)
        return True

    def total(self, run_id: str) -> StoredWindow | None:
        found = [b for second in self.batches.values() for b in second]
        if not found:
            return None
        return StoredWindow(merge_batches_of(found, run_id, 0), len(found), len(self.batches),
                            max(self.second(run_id, s).batch.sent for s in self.batches))

    def correct_tick(self, run_id: str, second: int, totals: StoredWindow) -> bool:
        held = self.ticks.get(second)
        if held is None or held[0].batches >= totals.batches:
            return False
        self.ticks[second] = (totals, held[1])
        return True

    def infra(self) -> dict[str, Any] | None:
        return {"cost_usd_per_hour": 1.0}


def ticker(store: Store, now: float = STARTED) -> LiveTicker:
    return LiveTicker(store, load_price_table(), clock=lambda: now, grace_s=10.0)


def test_the_planned_workers_of_each_second_come_from_the_plan() -> None:
    expected = expected_by_second(plan_run(SPEC, "r1"))
    assert expected == [frozenset({"w0-s0", "w0-s1"})] * 4


def test_a_phase_criterion_is_judged_over_the_whole_phase() -> None:
    # Given a bad first second and a clean second second in the 'warm' phase, both workers
    store = Store()
    store.add(batch("w0-s0", 0, ok=5, errors=5), batch("w0-s1", 0, ok=0, errors=0))
    store.add(batch("w0-s0", 1, ok=10, errors=0), batch("w0-s1", 1, ok=0, errors=0))
    store.add(batch("w0-s0", 2, ok=5, errors=0), batch("w0-s1", 2, ok=5, errors=0))

    # When the seconds are ticked (LiveFeed judges a phase once it is over)
    ticked = ticker(store).advance("r1")

    # Then the phase is judged on both its seconds (5 errors in 20), not on one second alone
    assert [t.tick.second for t in ticked] == [0, 1, 2]
    last = ticked[-1]
    assert last.tick.totals["sent"] == 30 and not last.partial
    assert last.tick.totals["peak_tps"] == 10 and last.tick.infra == {"cost_usd_per_hour": 1.0}
    assert [(e.event, e.detail["criterion"]) for e in last.events] == [
        ("criterion_breached", "error_rate < 1% [phase warm]")]
    assert len(last.messages()) == 2


def test_a_second_waits_for_every_planned_worker_then_is_ticked_once() -> None:
    # Given one worker's second 0 and 1, the other's not yet
    store = Store()
    store.add(batch("w0-s0", 0, ok=5, errors=5), batch("w0-s0", 1, ok=5, errors=0))
    live = ticker(store)

    # Then nothing is ticked while the second is open
    assert live.advance("r1") == []

    # When the other worker's retried attempt closes second 0
    store.add(batch("w0-s1-r1", 0, ok=10, errors=0))
    ticked = live.advance("r1")

    # Then second 0 alone is ticked, on both workers, and never again
    assert [t.tick.second for t in ticked] == [0]
    assert ticked[0].tick.window["sent"] == 20 and ticked[0].tick.window["errors"] == 5
    assert ticked[0].tick.window["workers_closed"] == 2
    assert live.advance("r1") == []


def test_an_open_second_is_ticked_as_partial_once_its_grace_has_passed() -> None:
    store = Store()
    store.add(batch("w0-s0", 0, ok=4, errors=0))
    assert ticker(store, now=STARTED + 1 + 9.9).advance("r1") == []

    ticked = ticker(store, now=STARTED + 1 + 10.0).advance("r1")

    assert [(t.tick.second, t.partial) for t in ticked] == [(0, True)]
    assert ticked[0].tick.window["partial"] is True
    assert ticked[0].tick.window["workers_closed"] == 1
    assert store.ticks[0][1] is True


def test_a_second_another_aggregator_ticked_first_is_not_ticked_again() -> None:
    store = Store()
    store.add(batch("w0-s0", 0, ok=4, errors=0), batch("w0-s1", 0, ok=4, errors=0))
    first, second = ticker(store), ticker(store)

    assert [t.tick.second for t in first.advance("r1")] == [0]
    assert second.advance("r1") == []
    assert store.ticks[0][0].batch.sent == 8


def every_batch_sent(store: Store) -> int:
    return sum(b.sent for second in store.batches.values() for b in second)


def test_a_final_batch_past_the_plan_is_in_the_last_ticks_totals() -> None:
    # Given both workers through the plan's 4 seconds, and one more batch in window 4 (one past
    # the plan: a generator whose final batch came after its last planned second)
    store = Store()
    for second in range(4):
        store.add(batch("w0-s0", second, ok=5, errors=0), batch("w0-s1", second, ok=5, errors=0))
    store.add(batch("w0-s1", 4, ok=3, errors=0))

    # When the seconds are ticked
    ticked = ticker(store).advance("r1", merged={4})

    # Then the last planned second's tick carries every batch merged, as the summary does
    assert [t.tick.second for t in ticked] == [0, 1, 2, 3]
    assert ticked[-1].tick.totals["ok"] == every_batch_sent(store) == 43
    assert store.ticks[3][0].batches == 9


def test_a_final_batch_merged_after_the_last_tick_is_carried_by_a_correction() -> None:
    # Given a run whose last second was ticked before one worker's final answers were merged
    store = Store()
    for second in range(4):
        store.add(batch("w0-s0", second, ok=5, errors=0), batch("w0-s1", second, ok=5, errors=0))
    live = ticker(store)
    assert [t.tick.second for t in live.advance("r1")] == [0, 1, 2, 3]

    # When the late batch (window 4, past the plan) is merged and the ticker advanced
    store.add(batch("w0-s0", 4, ok=3, errors=0))
    corrected = live.advance("r1", merged={4})

    # Then the last second is ticked again, its totals now every batch merged, and stored
    assert [(t.tick.second, t.correction) for t in corrected] == [(3, True)]
    assert corrected[0].tick.totals["ok"] == every_batch_sent(store) == 43
    assert corrected[0].tick.window["ok"] == 10  # the second itself is as it was
    assert store.ticks[3][0].batch.ok == 43 and store.ticks[3][0].batches == 9
    # and nothing more to correct when nothing new was merged
    assert live.advance("r1", merged={4}) == []


def test_a_batch_merged_after_its_second_was_ticked_is_carried_into_the_running_totals() -> None:
    # Given second 0 ticked as partial after the grace, without w0-s1's batch, and second 1
    store = Store()
    store.add(batch("w0-s0", 0, ok=5, errors=0))
    store.add(batch("w0-s0", 1, ok=5, errors=0), batch("w0-s1", 1, ok=5, errors=0))
    live = ticker(store, now=STARTED + 1 + 10.0)
    assert [(t.tick.second, t.partial) for t in live.advance("r1")] == [(0, True), (1, False)]

    # When w0-s1's batch for second 0 is merged late
    store.add(batch("w0-s1", 0, ok=7, errors=0))
    corrected = live.advance("r1", merged={0})

    # Then a correction of the latest tick carries it into the running totals
    assert [(t.tick.second, t.correction) for t in corrected] == [(1, True)]
    assert corrected[0].tick.totals["ok"] == 22

    # And the seconds ticked after it build on the corrected totals: the last equals every batch
    for second in (2, 3):
        store.add(batch("w0-s0", second, ok=5, errors=0), batch("w0-s1", second, ok=5, errors=0))
    ticked = live.advance("r1", merged={2, 3})
    assert [t.tick.second for t in ticked] == [2, 3]
    assert ticked[-1].tick.totals["ok"] == every_batch_sent(store) == 42


def test_an_aggregator_that_loses_a_tick_to_another_goes_on_to_the_last_second() -> None:
    # Given seconds 0-1 ticked, and every batch of 2-3 merged, w0-s1's final one (second 3) by
    # this aggregator, while another aggregator, which read the seconds before that merge,
    # ticks second 2 just before this one can and is about to tick 3 on its stale read
    store = Store()
    for second in range(4):
        store.add(batch("w0-s0", second, ok=5, errors=0), batch("w0-s1", second, ok=5, errors=0))
    ticker(store).advance("r1")
    del store.ticks[2], store.ticks[3]
    stale = StoredWindow(merge_batches_of([b for s in range(4) for b in store.batches[s]][:-1],
                                          "r1", 0), 7, 4)
    put_tick = store.put_tick

    def the_other_first(run_id: str, second: int, totals: StoredWindow, partial: bool) -> bool:
        if second == 2 and 2 not in store.ticks:
            put_tick(run_id, 2, totals, partial)
            return False
        return put_tick(run_id, second, totals, partial)

    store.put_tick = the_other_first  # type: ignore[method-assign]

    # When this aggregator advances after its merge
    ticked = ticker(store).advance("r1", merged={3})

    # Then it went on past the second it lost and ticked the last one on every batch, so the
    # other aggregator's stale tick of it is refused
    assert [t.tick.second for t in ticked] == [3]
    assert not store.put_tick("r1", 3, stale, False)
    assert store.ticks[3][0].batch.ok == every_batch_sent(store) == 40
