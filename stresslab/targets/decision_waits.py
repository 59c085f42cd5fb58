"""Transactions waiting for their decision, and the counts of what else the outcome held."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DecisionWaits:
    """Transactions waiting for their decision; a decision resolves its wait once."""

    waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    seen: int = 0
    duplicates_or_late: int = 0
    redelivered: int = 0  # the same queue message again (at-least-once), not a second copy
    others: int = 0
    unreadable: int = 0
    read_errors: int = 0
    _prefixes: set[str] = field(default_factory=set)

    def expect(self, transaction_id: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[transaction_id] = future
        self._prefixes.add(transaction_id.rpartition("/")[0])
        return future

    def forget(self, transaction_id: str) -> None:
        self.waiting.pop(transaction_id, None)

    def owns(self, transaction_id: str) -> bool:
        """Sent by this worker (ids are run/shard/seq): now waiting, answered or timed out."""
        return transaction_id.rpartition("/")[0] in self._prefixes

    def decided(self, transaction_id: str, decision: Any) -> None:
        future = self.waiting.get(transaction_id)
        if future is None or future.done():
            if self.owns(transaction_id):
                self.duplicates_or_late += 1
            else:  # several workers read one outcome source
                self.others += 1
            return
        self.seen += 1
        future.set_result(decision)

    def pending(self) -> list[str]:
        return [key for key, future in self.waiting.items() if not future.done()]
