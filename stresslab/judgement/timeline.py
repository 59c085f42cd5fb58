"""The run's seconds as resilience reads them: what each second counted, and what the run
lost between two seconds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SecondCounts:
    """What one second of the run counted (answers land in the second they arrive)."""

    sent: int = 0
    ok: int = 0
    failed: int = 0  # errors + timeouts
    dropped: int = 0
    p95_ms: float | None = None
    labelled: int = 0
    correct: int = 0

    @property
    def answered(self) -> int:
        return self.ok + self.failed

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SecondCounts:
        """From a per-second row (`RunAggregator.second_row`)."""
        def count(key: str) -> int:
            value = row.get(key)
            return int(value) if isinstance(value, int | float) else 0

        labelled = count("labelled") or sum(count(k) for k in ("tp", "fp", "tn", "fn"))
        if "tp" in row or "tn" in row:
            correct = count("tp") + count("tn")
        else:
            accuracy = row.get("accuracy")
            correct = round(accuracy * labelled) if isinstance(accuracy, int | float) else 0
        p95 = row.get("p95_ms")
        return cls(
            sent=count("sent"), ok=count("ok"), failed=count("errors") + count("timeouts"),
            dropped=count("dropped"), p95_ms=float(p95) if isinstance(p95, int | float) else None,
            labelled=labelled, correct=correct,
        )


class Timeline:
    """The run's seconds [0, end); a second nobody reported counts nothing."""

    def __init__(self, seconds: Mapping[int, SecondCounts], end: int) -> None:
        self.end = max(end, 0)
        self._seconds = dict(seconds)
        running, outstanding = 0, []
        for second in range(self.end):
            counts = self.at(second)
            running += counts.sent - counts.answered
            outstanding.append(running)
        # The lowest number of outstanding requests from each second to the end of the run.
        self._floor = list(outstanding)
        for second in range(self.end - 2, -1, -1):
            self._floor[second] = min(self._floor[second], self._floor[second + 1])

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], end: int | None = None) -> Timeline:
        seconds = {int(row["second"]): SecondCounts.from_row(row) for row in rows
                   if isinstance(row.get("second"), int | float)}
        last = max(seconds, default=-1) + 1
        return cls(seconds, max(last, end or 0))

    def at(self, second: int) -> SecondCounts:
        return self._seconds.get(second) or SecondCounts()

    def total(self, seconds: Iterable[int]) -> SecondCounts:
        picked = [self.at(s) for s in seconds]
        return SecondCounts(
            sent=sum(c.sent for c in picked), ok=sum(c.ok for c in picked),
            failed=sum(c.failed for c in picked), dropped=sum(c.dropped for c in picked),
            labelled=sum(c.labelled for c in picked), correct=sum(c.correct for c in picked),
        )

    def lost_between(self, start: int, end: int) -> int:
        """Transactions sent in [start, end) that never got an answer, as far as seconds tell.

        An answer (ok, error or timeout) is counted in the second it arrives, not the second
        its request left, so one transaction cannot be followed from one to the other. But a
        request that is never answered keeps the running count of outstanding requests
        (sent - answered so far) up for good, while one merely in flight does not: the lowest
        value of that count over all later seconds is at least the number of unanswered
        requests sent so far, and at the end of the run (after the last answer or timeout)
        equals the run's unanswered total exactly. A window is charged with how much that
        floor rises across it. Disjoint windows never share more than the run lost, and a run
        that lost nothing charges every window 0. Requests the target says it never received
        are counted only for the whole run (the target reports one total), not here.
        """
        start, end = max(start, 0), min(end, self.end)
        if end <= start:
            return 0
        before = self._floor[start - 1] if start > 0 else 0
        return max(0, self._floor[end - 1] - max(before, 0))
