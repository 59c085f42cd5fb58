"""The cyclic garbage of the runner and of each worker, collected every few seconds of a run
rather than left for Python's rare full collections.

About 50 objects a second die in reference cycles in the runner (batches, histograms and
tasks that lived through two young collections). A full collection only comes once they are a
quarter of the long-lived heap, so the garbage piles up and the heap it leaves behind stays
fragmented: RSS climbed 60 → 97 MB over 4 minutes of a 500 TPS run, and stayed at 71-74 MB
with a collection every 15 s (docs/performance.md "Memory over a sustained run"). Workers
drop about sixteen HDR histograms a second, each a cycle (stresslab/local/worker_process.py).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

SWEEP_EVERY_S = 10


class GarbageSweep:
    """Once the run is live, what was built to start it is frozen (never traversed again);
    then every SWEEP_EVERY_S closed seconds, one full collection."""

    def __init__(self, collect: Callable[[], int] = gc.collect,
                 freeze: Callable[[], None] = gc.freeze, every_s: int = SWEEP_EVERY_S) -> None:
        self._collect, self._freeze, self._every_s = collect, freeze, every_s
        self._last = 0
        self.sweeps = 0
        self.collected = 0

    def started(self) -> None:
        self._collect()
        self._freeze()

    def second_closed(self, second: int) -> None:
        if second - self._last >= self._every_s:
            self._last = second
            self.sweeps += 1
            self.collected += self._collect()
