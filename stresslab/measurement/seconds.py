"""A run's per-second windows behind one accessor: all held in memory (unit tests, the AWS
views), or only the live window held and closed seconds spilled to a store (a local run), so
that a run's memory is bounded by the live window rather than by the run's length."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from typing import Any, Protocol

from stresslab.measurement.metrics import (
    COARSE_DIGITS,
    WindowStats,
    decode_histogram,
    encode_histogram,
)

HOT_SECONDS = 10  # seconds this far behind the newest are closed: frozen, or spilled

_COUNTS = (
    "scheduled", "sent", "ok", "timeouts", "dropped", "undelivered", "tp", "fp", "tn", "fn",
    "fraud_total", "fraud_prevented", "fraud_missed", "false_positive",
    "decisions_folded", "agents_folded", "names_cleaned", "batches",
    "usage_answers", "modelled_usage_answers", "input_tokens", "output_tokens",
)


def encode_stats(stats: WindowStats) -> str:
    """A window as text, exactly: counts, amounts (floats round-trip through JSON), the names'
    order, and the histograms encoded as HdrHistogram encodes them."""
    data: dict[str, Any] = {name: getattr(stats, name) for name in _COUNTS}
    data.update(
        errors=stats.errors, patterns=stats.patterns, decisions=stats.decisions,
        agent_calls=stats.agent_calls, agent_errors=stats.agent_errors,
        latency=encode_histogram(stats.latency), lag=encode_histogram(stats.lag),
        agent_latency={a: encode_histogram(h) for a, h in stats.agent_latency.items()},
    )
    return json.dumps(data, separators=(",", ":"))


def decode_stats(text: str) -> WindowStats:
    data = json.loads(text)
    stats = WindowStats(decode_histogram(data["latency"]),
                        decode_histogram(data["lag"], COARSE_DIGITS))
    for name in _COUNTS:
        setattr(stats, name, data[name])
    stats.errors = data["errors"]
    stats.patterns = data["patterns"]
    stats.decisions = data["decisions"]
    stats.agent_calls = data["agent_calls"]
    stats.agent_errors = data["agent_errors"]
    for agent, encoded in data["agent_latency"].items():
        stats.agent_latency[agent] = decode_histogram(encoded, COARSE_DIGITS)
    return stats


class SecondsSpill(Protocol):
    """Where closed seconds go (local.store.SqliteRunStore.seconds_spill): one run's, each
    with the order it first came in, so merges add up in the same order as in memory."""

    def put(self, second: int, order: int, body: str) -> None: ...

    def take(self, second: int) -> tuple[int, str] | None:
        """The second's (order, body), removed from the spill; None when not there."""
        ...

    def get(self, second: int) -> str | None: ...

    def keys(self) -> list[tuple[int, int]]:
        """(order, second) of every spilled second."""
        ...

    def scan(self, start: int, end: int) -> Iterator[tuple[int, str]]:
        """(order, body) of the spilled seconds in [start, end)."""
        ...


class NoSpill:
    """A spill that holds nothing (SpilledSeconds.detach)."""

    def put(self, second: int, order: int, body: str) -> None:
        raise RuntimeError("the seconds' store has been detached")

    def take(self, second: int) -> tuple[int, str] | None:
        return None

    def get(self, second: int) -> str | None:
        return None

    def keys(self) -> list[tuple[int, int]]:
        return []

    def scan(self, start: int, end: int) -> Iterator[tuple[int, str]]:
        return iter(())


class Seconds(MutableMapping[int, WindowStats]):
    """Every second held in memory; seconds behind the live window are kept frozen (their
    histograms encoded). Readers use the mapping, `between` for a window, `peak_sent`."""

    def __init__(self, hot_seconds: int = HOT_SECONDS) -> None:
        self._held: dict[int, WindowStats] = {}
        self._hot: set[int] = set()
        self._latest = -1
        self._hot_seconds = hot_seconds

    def __getitem__(self, second: int) -> WindowStats:
        return self._held[second]

    def __setitem__(self, second: int, stats: WindowStats) -> None:
        self._held[second] = stats

    def __delitem__(self, second: int) -> None:
        del self._held[second]
        self._hot.discard(second)

    def __iter__(self) -> Iterator[int]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    @property
    def resident(self) -> int:
        """How many seconds are held in memory."""
        return len(self._held)

    def merge(self, second: int, stats: WindowStats) -> None:
        """Add a batch's window to its second (the first one of a second becomes it)."""
        held = self._take(second)
        if held is None:
            self[second] = stats
        else:
            held.add_stats(stats)
        self._touched(second)
        self._cool(second)

    def between(self, start: int, end: int) -> Iterator[WindowStats]:
        """The seconds in [start, end), in the order they first came in."""
        return (stats for second, stats in self._held.items() if start <= second < end)

    def peak_sent(self) -> int:
        return max((stats.sent for stats in self._held.values()), default=0)

    def _take(self, second: int) -> WindowStats | None:
        return self._held.get(second)

    def _touched(self, second: int) -> None:
        """A second changed (for a store that keeps running figures)."""

    def _close(self, second: int) -> None:
        self._held[second].freeze()

    def _cool(self, second: int) -> None:
        self._hot.add(second)
        self._latest = max(self._latest, second)
        for old in [s for s in self._hot if s < self._latest - self._hot_seconds]:
            self._hot.discard(old)
            self._close(old)


class SpilledSeconds(Seconds):
    """The live window held in memory; a closed second goes to the spill and is read back
    from it when asked for (a late batch brings it back into memory until it closes again)."""

    def __init__(self, spill: SecondsSpill, hot_seconds: int = HOT_SECONDS) -> None:
        super().__init__(hot_seconds)
        self._spill = spill
        self._order: dict[int, int] = {}  # held seconds only
        self._next_order = 0
        self._peak = 0

    def __getitem__(self, second: int) -> WindowStats:
        held = self._held.get(second)
        if held is not None:
            return held
        body = self._spill.get(second)
        if body is None:
            raise KeyError(second)
        return decode_stats(body)

    def __setitem__(self, second: int, stats: WindowStats) -> None:
        if second not in self._held and self._take(second) is None:
            self._order[second] = self._next_order
            self._next_order += 1
        self._held[second] = stats
        self._touched(second)
        self._cool(second)

    def __delitem__(self, second: int) -> None:
        if self._take(second) is None:
            raise KeyError(second)
        del self._held[second]
        del self._order[second]
        self._hot.discard(second)

    def _ordered(self) -> list[tuple[int, int]]:
        return sorted(self._spill.keys() + [(o, s) for s, o in self._order.items()])

    def __iter__(self) -> Iterator[int]:
        return iter([second for _, second in self._ordered()])

    def __len__(self) -> int:
        return len(self._ordered())

    def __contains__(self, second: object) -> bool:
        return second in self._held or (
            isinstance(second, int) and self._spill.get(second) is not None)

    def detach(self) -> None:
        """Let go of the spill (its store is about to close): the live window stays held."""
        self._spill = NoSpill()
        self._hot_seconds = 1 << 62

    def between(self, start: int, end: int) -> Iterator[WindowStats]:
        both: list[tuple[int, WindowStats | str]] = [
            (self._order[s], stats) for s, stats in self._held.items() if start <= s < end]
        both.extend(self._spill.scan(start, end))
        for _, item in sorted(both, key=lambda pair: pair[0]):
            yield item if isinstance(item, WindowStats) else decode_stats(item)

    def peak_sent(self) -> int:
        return self._peak  # counts only grow, so the running peak is the peak

    def _take(self, second: int) -> WindowStats | None:
        held = self._held.get(second)
        if held is not None:
            return held
        taken = self._spill.take(second)
        if taken is None:
            return None
        order, body = taken
        stats = self._held[second] = decode_stats(body)
        self._order[second] = order
        return stats

    def _touched(self, second: int) -> None:
        self._peak = max(self._peak, self._held[second].sent)

    def _close(self, second: int) -> None:
        stats = self._held.pop(second)
        self._spill.put(second, self._order.pop(second), encode_stats(stats))
