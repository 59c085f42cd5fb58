"""Independent request counts per run, kept by the target to prove that nothing was lost."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

DROPPED = "dropped"


@dataclass(slots=True)
class RunCounts:
    """Arrivals, outcomes by HTTP status (or 'dropped') and decisions of one run; `forwarded`:
    requests this process passed on to the card's owner (counted there, not in `received`)."""

    received: int = 0
    forwarded: int = 0
    responses: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(
        default_factory=lambda: {"approve": 0, "review": 0, "block": 0}
    )

    def describe(self, run_id: str | None) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "received": self.received,
            "responses": dict(self.responses),
            "decisions": dict(self.decisions),
            "forwarded": self.forwarded,
        }


class ScoreCounters:
    """Counts every /v1/score request on arrival and by outcome, per run and in total."""

    def __init__(self, max_runs: int) -> None:
        self._max_runs = max_runs
        self._runs: OrderedDict[str, RunCounts] = OrderedDict()
        self.total = RunCounts()

    def _run(self, run_id: str) -> RunCounts:
        counts = self._runs.get(run_id)
        if counts is None:
            counts = self._runs[run_id] = RunCounts()
            if len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        return counts

    def arrived(self, run_id: str) -> None:
        self._run(run_id).received += 1
        self.total.received += 1

    def forwarded(self, run_id: str) -> None:
        """A request passed on to the process that owns its card."""
        self._run(run_id).forwarded += 1
        self.total.forwarded += 1

    def answered(self, run_id: str, outcome: str, decision: str | None = None) -> None:
        """Record how an arrived request ended: an HTTP status code or 'dropped'."""
        for counts in (self._runs.get(run_id), self.total):
            if counts is None:
                continue  # the run was evicted mid-flight; totals still count it
            counts.responses[outcome] = counts.responses.get(outcome, 0) + 1
            if decision is not None:
                counts.decisions[decision] += 1

    def describe(self, run_id: str | None = None) -> dict[str, Any]:
        if run_id is None:
            return self.total.describe(None)
        return self._runs.get(run_id, RunCounts()).describe(run_id)


def merge_described(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One count from the `describe()` of several processes: every number summed."""
    merged = RunCounts()
    for part in parts:
        merged.received += int(part["received"])
        merged.forwarded += int(part.get("forwarded", 0))
        for outcome, count in part["responses"].items():
            merged.responses[outcome] = merged.responses.get(outcome, 0) + int(count)
        for decision, count in part["decisions"].items():
            merged.decisions[decision] = merged.decisions.get(decision, 0) + int(count)
    return merged.describe(parts[0]["run_id"] if parts else None)
