"""Stop flags in the run table: one item per stopped run plus an `all` item, and how to poll them.

Why DynamoDB and not an SSM parameter: SSM's GetParameter default quota (40/s per account) is
below what a few hundred workers polling need, and one value cannot hold two stopped runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stresslab.aws.second_items import run_pk, table_key

STOP_SK = "STOP"
ALL_PK = "STOP"
ALL_SK = "ALL"
DAY_S = 86_400


class StopFlagUnreadable(RuntimeError):
    """The stop flags could not be read several times in a row: the worker stops (fails closed)."""


@dataclass(frozen=True)
class StopPolling:
    """How workers poll: every interval_s +/- jitter_s; a failed read is retried after retry_s;
    after max_failures failed reads in a row the worker stops.

    200 workers at one read per 3 s make about 67 BatchGetItem calls per second (2 RCU each,
    strongly consistent): far from any DynamoDB limit, where SSM's 40/s quota was already passed.
    """

    interval_s: float = 3.0
    jitter_s: float = 1.0
    retry_s: float = 0.5
    max_failures: int = 3

    def next_delay(self, draw: Callable[[], float] = random.random) -> float:
        """Seconds to the next read; jittered so workers started together do not poll together."""
        return max(0.0, self.interval_s + (2.0 * draw() - 1.0) * self.jitter_s)


class StopFlags:
    """The kill switch: `trip` writes a run's flag (never reads first), `stops` reads both the
    run's flag and the `all` flag in one BatchGetItem."""

    def __init__(
        self, client: Any, table_name: str, retention_days: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_s = retention_days * DAY_S
        self._clock = clock

    def stops(self, run_id: str) -> bool:
        """True when the run or every run is stopped; raises when the read did not complete."""
        response = self._db.batch_get_item(RequestItems={self._table: {
            "Keys": [table_key(run_pk(run_id), STOP_SK), table_key(ALL_PK, ALL_SK)],
            "ConsistentRead": True, "ProjectionExpression": "pk",
        }})
        if response.get("UnprocessedKeys"):
            raise StopFlagUnreadable("stop flags: read throttled (unprocessed keys)")
        return bool(response.get("Responses", {}).get(self._table))

    def trip(self, run_id: str, by: str = "") -> None:
        self._put(run_pk(run_id), STOP_SK, by, self._clock() + self._retention_s)

    def trip_all(self, by: str = "") -> None:
        """Stops every run, running or still to start, until clear_all."""
        self._put(ALL_PK, ALL_SK, by, None)

    def clear_all(self) -> None:
        self._db.delete_item(TableName=self._table, Key=table_key(ALL_PK, ALL_SK))

    def _put(self, pk: str, sk: str, by: str, expires_at: float | None) -> None:
        item: dict[str, Any] = {**table_key(pk, sk), "stopped_by": {"S": by or "unknown"},
                                "stopped_at": {"N": str(int(self._clock()))}}
        if expires_at is not None:
            item["expires_at"] = {"N": str(int(expires_at))}
        self._db.put_item(TableName=self._table, Item=item)
