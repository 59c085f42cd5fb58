"""DynamoRunStore: runs, merged seconds, dedupe markers, workers and connections in one table
(the item layout and the merging of seconds are in second_items)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code
from stresslab.aws.second_items import (
    MergeOutcome,
    StoredWindow,
    WorkerRecord,
    marker_pk,
    marker_sk,
    merge_batches_of,
    merge_parts,
    part_sk,
    run_pk,
    second_sk,
    stored_window,
    table_key,
    tick_sk,
)
from stresslab.measurement.metrics import MetricsBatch
from stresslab.targets.identity import identify_target

logger = logging.getLogger(__name__)

DAY_S = 86_400
RUNS_PK = "RUNS"
CONN_PK = "CONN"
META_SK = "META"
# A part and its markers go in one transaction (at most 100 items).
PART_RECORDS = 99


class MergeConflict(RuntimeError):
    """The optimistic merge lost the race too many times in a row; the record is retried."""


class ConnectionLimitReached(RuntimeError):
    """The live view already has as many connections as the aggregator may push to."""


class RunNotFound(LookupError):
    """No run with that id in the table."""


class DynamoRunStore:
    """The run table behind the AWS runtime (layout in docs/aws-runtime.md)."""

    def __init__(
        self, client: Any, table_name: str, retention_days: float = 30.0,
        clock: Any = time.time,
    ) -> None:
        self._db = client
        self._table = table_name
        self._retention_s = retention_days * DAY_S
        self._clock = clock

    # ------------------------------------------------------------------ runs

    def _expires(self, seconds: float | None = None) -> dict[str, str]:
        return {"N": str(int(self._clock() + (seconds or self._retention_s)))}

    def create_run(self, run_id: str, started_at: str, record: dict[str, Any]) -> None:
        """META item and the RUNS index entry; a run id is created once."""
        scenario = str(record.get("scenario", ""))
        system = identify_target(str(record.get("target", ""))).label
        self._db.transact_write_items(TransactItems=[
            {"Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": run_pk(run_id)}, "sk": {"S": META_SK},
                    "run_id": {"S": run_id}, "status": {"S": "running"},
                    "scenario": {"S": scenario}, "started_at": {"S": started_at},
                    "record": {"S": json.dumps(record)}, "expires_at": self._expires(),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }},
            {"Put": {
                "TableName": self._table,
                "Item": {
                    "pk": {"S": RUNS_PK}, "sk": {"S": f"{started_at}#{run_id}"},
                    "run_id": {"S": run_id}, "scenario": {"S": scenario},
                    "status": {"S": "running"}, "started_at": {"S": started_at},
                    "system": {"S": system}, "expires_at": self._expires(),
                },
            }},
        ])

    def get_run(self, run_id: str) -> dict[str, Any]:
        item = self._db.get_item(
            TableName=self._table, Key=table_key(run_pk(run_id), META_SK), ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise RunNotFound(run_id)
        run = json.loads(item["record"]["S"])
        run.update(run_id=run_id, status=item["status"]["S"], started_at=item["started_at"]["S"])
        for name in ("summary", "error"):
            if name in item:
                run[name] = json.loads(item[name]["S"])
        if "ended_at" in item:
            run["ended_at"] = item["ended_at"]["S"]
        if "fault_failures" in item:  # written by the state machine when FIS fails a fault
            run["fault_failures"] = [
                {name: value.get("S", value.get("N")) for name, value in entry["M"].items()}
                for entry in item["fault_failures"]["L"]
            ]
        return run

    def finish_run(
        self, run_id: str, status: str, ended_at: str, summary: dict[str, Any] | None = None,
        error: dict[str, Any] | None = None, only_if_running: bool = False,
    ) -> bool:
        """Record the final status (and summary or error); False when the condition refused."""
        run = self.get_run(run_id)
        names = {"#s": "status"}
        values: dict[str, Any] = {":s": {"S": status}, ":e": {"S": ended_at}}
        update = "SET #s = :s, ended_at = :e"
        if summary is not None:
            update += ", summary = :summary"
            values[":summary"] = {"S": json.dumps(summary)}
        if error is not None:
            update += ", #err = :err"
            names["#err"] = "error"
            values[":err"] = {"S": json.dumps(error)}
        condition = None
        if only_if_running:
            condition = "#s = :running"
            values[":running"] = {"S": "running"}
        try:
            self._db.update_item(
                TableName=self._table, Key=table_key(run_pk(run_id), META_SK),
                UpdateExpression=update, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **({"ConditionExpression": condition} if condition else {}),
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False
            raise
        self._db.update_item(
            TableName=self._table, Key=table_key(RUNS_PK, f"{run['started_at']}#{run_id}"),
            UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}},
        )
        return True

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        items = self._db.query(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": RUNS_PK}}, ScanIndexForward=False,
            Limit=limit,
        )["Items"]
        return [
            {"run_id": i["run_id"]["S"], "scenario": i["scenario"]["S"],
             "status": i["status"]["S"], "started_at": i["started_at"]["S"],
             "system": i["system"]["S"] if "system" in i else None}
            for i in items
        ]

    # ------------------------------------------------------------------ metrics

    def merge_batches(self, batches: Iterable[MetricsBatch], attempts: int = 8) -> MergeOutcome:
        """Merge a Lambda batch of MetricsBatches, each exactly once.

        The batches of one (run, second) are merged in memory and written as one part item,
        in one transaction with a marker per (worker, seq): a redelivered batch fails its
        marker's condition, is dropped from the part, and the rest is written again. Parts
        and ticks live under the run's key, markers under each worker's, so the run's
        partition takes a few writes per second whatever the number of workers.
        """
        outcome = MergeOutcome()
        unique: dict[tuple[str, str, int], MetricsBatch] = {}
        duplicates_by_run: dict[str, int] = {}
        for batch in batches:
            key = (batch.run_id, batch.worker_id, batch.seq)
            if key in unique:
                duplicates_by_run[batch.run_id] = duplicates_by_run.get(batch.run_id, 0) + 1
            else:
                unique[key] = batch
        groups: dict[tuple[str, int], list[MetricsBatch]] = {}
        for batch in unique.values():
            groups.setdefault((batch.run_id, batch.window), []).append(batch)
        for (run_id, window), group in sorted(groups.items()):
            group.sort(key=lambda b: (b.worker_id, b.seq))
            for start in range(0, len(group), PART_RECORDS):
                merged, duplicates, writes = self._merge_part(
                    run_id, window, group[start:start + PART_RECORDS], attempts)
                outcome.merged += merged
                outcome.writes += writes
                if duplicates:
                    duplicates_by_run[run_id] = duplicates_by_run.get(run_id, 0) + duplicates
        for run_id, count in duplicates_by_run.items():
            self.count_duplicates(run_id, count)
            outcome.writes += 1
        outcome.duplicates = sum(duplicates_by_run.values())
        return outcome

    def _merge_part(
        self, run_id: str, window: int, batches: list[MetricsBatch], attempts: int,
    ) -> tuple[list[MetricsBatch], int, int]:
        """(merged, duplicates, write calls) for up to PART_RECORDS batches of one second."""
        remaining, duplicates, writes = list(batches), 0, 0
        for attempt in range(attempts):
            if not remaining:
                return [], duplicates, writes
            items = [self._part_put(run_id, window, remaining)]
            items += [self._marker_put(b) for b in remaining]
            writes += 1
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = error.response.get("CancellationReasons", [])
                seen = {i - 1 for i, r in enumerate(reasons)
                        if i > 0 and r.get("Code") == "ConditionalCheckFailed"}
                if seen:
                    duplicates += len(seen)
                    remaining = [b for i, b in enumerate(remaining) if i not in seen]
                    continue
                # another consumer's transaction held one of the items: back off and retry
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
                continue
            return remaining, duplicates, writes
        raise MergeConflict(f"{run_id} second {window}: {attempts} merge attempts cancelled")

    def _part_put(self, run_id: str, window: int, batches: list[MetricsBatch]) -> dict[str, Any]:
        first = batches[0]
        keys = [[b.worker_id, b.seq, int(b.final)] for b in batches]
        return {"Put": {
            "TableName": self._table,
            "Item": {
                "pk": {"S": run_pk(run_id)},
                "sk": {"S": part_sk(window, first.worker_id, first.seq)},
                "batch": {"S": merge_batches_of(batches, run_id, window).model_dump_json(
                    by_alias=True)},
                "batches": {"N": str(len(batches))}, "keys": {"S": json.dumps(keys)},
                "expires_at": self._expires(),
            },
            # the part is named after a batch whose marker is new in this same transaction
            "ConditionExpression": "attribute_not_exists(pk)",
        }}

    def _marker_put(self, batch: MetricsBatch) -> dict[str, Any]:
        return {"Put": {
            "TableName": self._table,
            "Item": {"pk": {"S": marker_pk(batch.run_id, batch.worker_id)},
                     "sk": {"S": marker_sk(batch.seq)}, "window": {"N": str(batch.window)},
                     "expires_at": self._expires()},
            "ConditionExpression": "attribute_not_exists(pk)",
        }}

    def seen(self, worker_id: str, run_id: str, seq: int) -> bool:
        item = self._db.get_item(
            TableName=self._table, Key=table_key(marker_pk(run_id, worker_id), marker_sk(seq)),
            ConsistentRead=True,
        ).get("Item")
        return item is not None

    def count_duplicates(self, run_id: str, count: int = 1) -> None:
        self._db.update_item(
            TableName=self._table, Key=table_key(run_pk(run_id), "DUPLICATES"),
            UpdateExpression="ADD duplicates :n SET expires_at = :x",
            ExpressionAttributeValues={":n": {"N": str(count)}, ":x": self._expires()},
        )

    def duplicates(self, run_id: str) -> int:
        item = self._db.get_item(
            TableName=self._table, Key=table_key(run_pk(run_id), "DUPLICATES"), ConsistentRead=True,
        ).get("Item")
        return int(item["duplicates"]["N"]) if item else 0

    def second(self, run_id: str, second: int) -> StoredWindow | None:
        """A second's parts merged; `workers` names every worker attempt merged into it."""
        return self.seconds_between(run_id, second, second + 1).get(second)

    def seconds(self, run_id: str) -> dict[int, StoredWindow]:
        return merge_parts(run_id, self._query_prefix(run_pk(run_id), "SEC#"))

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]:
        """The stored seconds with start <= second < end."""
        if end <= start:
            return {}
        return merge_parts(run_id, self._query({
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":pk": {"S": run_pk(run_id)},
                                          ":a": {"S": second_sk(start)},
                                          ":b": {"S": second_sk(end - 1) + "$"}},
        }))

    def total(self, run_id: str) -> StoredWindow | None:
        """The run so far, summed from its seconds at read time (peak_sent: busiest second).
        No item holds it: a total written per batch is the hot item this layout avoids."""
        seconds = self.seconds(run_id)
        if not seconds:
            return None
        return StoredWindow(
            merge_batches_of((w.batch for w in seconds.values()), run_id, 0),
            sum(w.batches for w in seconds.values()), len(seconds),
            max(w.batch.sent for w in seconds.values()),
        )

    def workers(self, run_id: str) -> dict[str, WorkerRecord]:
        """Every worker attempt's merged batches, read from the parts' keys."""
        counts: dict[str, int] = {}
        finals: dict[str, tuple[int, int]] = {}
        # only the keys: Evaluate polls this while it waits, and the merged batches are large
        for item in self._query({
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": run_pk(run_id)}, ":p": {"S": "SEC#"}},
            "ProjectionExpression": "sk, #keys", "ExpressionAttributeNames": {"#keys": "keys"},
        }):
            window = int(item["sk"]["S"][4:11])
            for worker_id, seq, final in json.loads(item["keys"]["S"]):
                counts[worker_id] = counts.get(worker_id, 0) + 1
                if final:
                    finals[worker_id] = (seq, window)
        return {
            worker_id: WorkerRecord(
                worker_id=worker_id, batches=count,
                final_seq=finals[worker_id][0] if worker_id in finals else None,
                final_window=finals[worker_id][1] if worker_id in finals else None,
            )
            for worker_id, count in counts.items()
        }

    # ------------------------------------------------------------------ ticks

    def last_tick(self, run_id: str) -> tuple[int, StoredWindow] | None:
        """The latest ticked second and the run's totals up to and including it."""
        page = self._db.query(
            TableName=self._table, ConsistentRead=True, ScanIndexForward=False, Limit=1,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues={":pk": {"S": run_pk(run_id)}, ":p": {"S": "TICK#"}},
        )
        if not page["Items"]:
            return None
        item = page["Items"][0]
        return int(item["sk"]["S"][5:]), stored_window(item)

    def ticks(self, run_id: str) -> dict[int, StoredWindow]:
        """Every ticked second's running totals through it (what a late viewer replays)."""
        return {int(item["sk"]["S"][5:]): stored_window(item)
                for item in self._query_prefix(run_pk(run_id), "TICK#")}

    def put_tick(self, run_id: str, second: int, totals: StoredWindow, partial: bool) -> bool:
        """Claim a second's tick with the running totals through it; False when another
        aggregator already ticked it (one write per second of run, whoever ticks)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": run_pk(run_id)}, "sk": {"S": tick_sk(second)},
                    "batch": {"S": totals.batch.model_dump_json(by_alias=True)},
                    "batches": {"N": str(totals.batches)}, "version": {"N": str(second + 1)},
                    "peak_sent": {"N": str(totals.peak_sent)},
                    "partial": {"BOOL": partial}, "expires_at": self._expires(),
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def correct_tick(self, run_id: str, second: int, totals: StoredWindow) -> bool:
        """Raise a ticked second's running totals to `totals` (batches merged after it was
        ticked); False when it holds as many batches already (another aggregator's correction)."""
        try:
            self._db.update_item(
                TableName=self._table, Key=table_key(run_pk(run_id), tick_sk(second)),
                UpdateExpression="SET #batch = :batch, #n = :n, peak_sent = :peak",
                ConditionExpression="attribute_exists(pk) AND #n < :n",
                ExpressionAttributeNames={"#batch": "batch", "#n": "batches"},
                ExpressionAttributeValues={
                    ":batch": {"S": totals.batch.model_dump_json(by_alias=True)},
                    ":n": {"N": str(totals.batches)}, ":peak": {"N": str(totals.peak_sent)},
                },
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _query_prefix(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        return self._query({
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":p": {"S": prefix}},
        })

    def _query(self, condition: dict[str, Any]) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True, **condition}
        while True:
            page = self._db.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ connections

    def put_connection(
        self, connection_id: str, role: str, ttl_s: float = 2 * 3600,
        limit: int | None = None,
    ) -> None:
        """Register a connection; ConnectionLimitReached when `limit` are already open (the
        aggregator pushes to each one, so an unbounded audience would starve it)."""
        if limit is not None and self.open_connections(limit) >= limit:
            raise ConnectionLimitReached(f"{limit} live connections already open")
        self._db.put_item(TableName=self._table, Item={
            "pk": {"S": CONN_PK}, "sk": {"S": connection_id}, "role": {"S": role},
            "connected_at": {"N": str(int(self._clock()))}, "expires_at": self._expires(ttl_s),
        })

    def open_connections(self, up_to: int) -> int:
        """How many unexpired connections there are, counting no further than up_to."""
        return len(self.connections(limit=up_to))

    def delete_connection(self, connection_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=table_key(CONN_PK, connection_id))

    def connections(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(connection_id, role) of open connections, at most `limit`, oldest id first.
        TTL deletes lag by hours, so expired items are filtered out here."""
        found = []
        for item in self._query({
            "KeyConditionExpression": "pk = :pk", "FilterExpression": "expires_at > :now",
            "ExpressionAttributeValues": {":pk": {"S": CONN_PK},
                                          ":now": {"N": str(int(self._clock()))}},
        }):
            found.append((item["sk"]["S"], item["role"]["S"]))
            if limit is not None and len(found) >= limit:
                break
        return found

    # ------------------------------------------------------------------ infrastructure

    def put_infra(self, body: dict[str, Any]) -> None:
        self._db.put_item(TableName=self._table, Item={
            "pk": {"S": "INFRA"}, "sk": {"S": "LATEST"}, "body": {"S": json.dumps(body)},
            "expires_at": self._expires(DAY_S),
        })

    def infra(self) -> dict[str, Any] | None:
        key = table_key("INFRA", "LATEST")
        item = self._db.get_item(TableName=self._table, Key=key).get("Item")
        return json.loads(item["body"]["S"]) if item else None
