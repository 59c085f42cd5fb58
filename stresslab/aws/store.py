"""DynamoRunStore: runs, merged seconds, dedupe markers, workers and connections in one table."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from stresslab.aws.errors import error_code
from stresslab.metrics import MetricsBatch, WindowStats, WorkerHealth

logger = logging.getLogger(__name__)

DAY_S = 86_400
RUNS_PK = "RUNS"
CONN_PK = "CONN"
TOTAL_SK = "TOTAL"
META_SK = "META"
MERGED_WORKER = "merged"


class MergeConflict(RuntimeError):
    """The optimistic merge lost the race too many times in a row; the record is retried."""


class RunNotFound(LookupError):
    """No run with that id in the table."""


def run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def second_sk(second: int) -> str:
    return f"SEC#{second:07d}"


def marker_sk(worker_id: str, seq: int) -> str:
    return f"BATCH#{worker_id}#{seq:09d}"


def worker_sk(worker_id: str) -> str:
    return f"WORKER#{worker_id}"


@dataclass(frozen=True)
class StoredWindow:
    """A merged MetricsBatch as kept in the table, with how many batches went into it."""

    batch: MetricsBatch
    batches: int
    version: int
    peak_sent: int = 0


@dataclass(frozen=True)
class MergeResult:
    new: bool
    second: StoredWindow | None = None
    total: StoredWindow | None = None
    peak_sent: int = 0


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    batches: int
    final_seq: int | None
    final_window: int | None

    @property
    def complete(self) -> bool:
        return self.final_seq is not None and self.batches >= self.final_seq + 1


def merge_health(a: WorkerHealth, b: WorkerHealth) -> WorkerHealth:
    """The worst of two generators' health: a saturated worker must stay visible once merged."""

    def worst(x: float | None, y: float | None) -> float | None:
        return y if x is None else x if y is None else max(x, y)

    fds = worst(a.open_fds, b.open_fds)
    return WorkerHealth(
        cpu_pct=worst(a.cpu_pct, b.cpu_pct), rss_mb=worst(a.rss_mb, b.rss_mb),
        open_fds=None if fds is None else int(fds), in_flight=max(a.in_flight, b.in_flight),
    )


def merged_batch(existing: MetricsBatch | None, batch: MetricsBatch, window: int) -> MetricsBatch:
    """existing + batch, merged by the core's WindowStats (exact counts, merged histograms)."""
    stats = WindowStats()
    health = batch.health
    if existing is not None:
        stats.add_batch(existing)
        health = merge_health(existing.health, batch.health)
    stats.add_batch(batch)
    return stats.to_batch(batch.run_id, MERGED_WORKER, 0, 0, 0, window, health=health)


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
                    "expires_at": self._expires(),
                },
            }},
        ])

    def get_run(self, run_id: str) -> dict[str, Any]:
        item = self._db.get_item(
            TableName=self._table, Key=_key(run_pk(run_id), META_SK), ConsistentRead=True,
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
                TableName=self._table, Key=_key(run_pk(run_id), META_SK),
                UpdateExpression=update, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **({"ConditionExpression": condition} if condition else {}),
            )
        except ClientError as err:
            if error_code(err) == "ConditionalCheckFailedException":
                return False
            raise
        self._db.update_item(
            TableName=self._table, Key=_key(RUNS_PK, f"{run['started_at']}#{run_id}"),
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
             "status": i["status"]["S"], "started_at": i["started_at"]["S"]}
            for i in items
        ]

    # ------------------------------------------------------------------ metrics

    def seen(self, worker_id: str, run_id: str, seq: int) -> bool:
        item = self._db.get_item(
            TableName=self._table, Key=_key(run_pk(run_id), marker_sk(worker_id, seq)),
            ConsistentRead=True,
        ).get("Item")
        return item is not None

    def merge_batch(self, batch: MetricsBatch, attempts: int = 12) -> MergeResult:
        """Merge a batch into its second and the run total, once: marker, second, total and
        worker move together in one transaction, guarded by the marker and both versions."""
        if self.seen(batch.worker_id, batch.run_id, batch.seq):
            self.count_duplicate(batch.run_id)
            return MergeResult(new=False)
        pk = run_pk(batch.run_id)
        for attempt in range(attempts):
            second = self._window(pk, second_sk(batch.window))
            total = self._window(pk, TOTAL_SK)
            new_second = merged_batch(second.batch if second else None, batch, batch.window)
            new_total = merged_batch(total.batch if total else None, batch, 0)
            peak = max(total.peak_sent if total else 0, new_second.sent)
            items = [
                self._marker_put(pk, batch),
                self._window_put(pk, second_sk(batch.window), new_second, second, {}),
                self._window_put(pk, TOTAL_SK, new_total, total, {"peak_sent": {"N": str(peak)}}),
                self._worker_update(pk, batch),
            ]
            try:
                self._db.transact_write_items(TransactItems=items)
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    self.count_duplicate(batch.run_id)
                    return MergeResult(new=False)
                time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
                continue
            return MergeResult(
                new=True,
                second=StoredWindow(new_second, (second.batches if second else 0) + 1,
                                    (second.version if second else 0) + 1),
                total=StoredWindow(new_total, (total.batches if total else 0) + 1,
                                   (total.version if total else 0) + 1, peak),
                peak_sent=peak,
            )
        raise MergeConflict(f"{batch.worker_id}#{batch.seq}: lost {attempts} optimistic merges")

    def count_duplicate(self, run_id: str) -> None:
        self._db.update_item(
            TableName=self._table, Key=_key(run_pk(run_id), "DUPLICATES"),
            UpdateExpression="ADD duplicates :one SET expires_at = :x",
            ExpressionAttributeValues={":one": {"N": "1"}, ":x": self._expires()},
        )

    def duplicates(self, run_id: str) -> int:
        item = self._db.get_item(
            TableName=self._table, Key=_key(run_pk(run_id), "DUPLICATES"), ConsistentRead=True,
        ).get("Item")
        return int(item["duplicates"]["N"]) if item else 0

    def total(self, run_id: str) -> StoredWindow | None:
        """The run total so far (peak_sent: the busiest second's sent count)."""
        return self._window(run_pk(run_id), TOTAL_SK)

    def second(self, run_id: str, second: int) -> StoredWindow | None:
        return self._window(run_pk(run_id), second_sk(second))

    def seconds(self, run_id: str) -> dict[int, StoredWindow]:
        return {
            int(item["sk"]["S"][4:]): _stored(item)
            for item in self._query_prefix(run_pk(run_id), "SEC#")
        }

    def seconds_between(self, run_id: str, start: int, end: int) -> dict[int, StoredWindow]:
        """The stored seconds with start <= second < end."""
        if end <= start:
            return {}
        kwargs: dict[str, Any] = {
            "TableName": self._table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
            "ExpressionAttributeValues": {":pk": {"S": run_pk(run_id)},
                                          ":a": {"S": second_sk(start)},
                                          ":b": {"S": second_sk(end - 1)}},
        }
        found: dict[int, StoredWindow] = {}
        while True:
            page = self._db.query(**kwargs)
            found.update({int(i["sk"]["S"][4:]): _stored(i) for i in page["Items"]})
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def workers(self, run_id: str) -> dict[str, WorkerRecord]:
        workers = {}
        for item in self._query_prefix(run_pk(run_id), "WORKER#"):
            worker_id = item["sk"]["S"][len("WORKER#"):]
            workers[worker_id] = WorkerRecord(
                worker_id=worker_id, batches=int(item.get("batches", {"N": "0"})["N"]),
                final_seq=int(item["final_seq"]["N"]) if "final_seq" in item else None,
                final_window=int(item["final_window"]["N"]) if "final_window" in item else None,
            )
        return workers

    def _window(self, pk: str, sk: str) -> StoredWindow | None:
        item = self._db.get_item(
            TableName=self._table, Key=_key(pk, sk), ConsistentRead=True,
        ).get("Item")
        return _stored(item) if item else None

    def _marker_put(self, pk: str, batch: MetricsBatch) -> dict[str, Any]:
        return {"Put": {
            "TableName": self._table,
            "Item": {"pk": {"S": pk}, "sk": {"S": marker_sk(batch.worker_id, batch.seq)},
                     "window": {"N": str(batch.window)}, "expires_at": self._expires()},
            "ConditionExpression": "attribute_not_exists(pk)",
        }}

    def _window_put(
        self, pk: str, sk: str, batch: MetricsBatch, before: StoredWindow | None,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        version = before.version if before else 0
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": {
                "pk": {"S": pk}, "sk": {"S": sk},
                "batch": {"S": batch.model_dump_json(by_alias=True)},
                "batches": {"N": str((before.batches if before else 0) + 1)},
                "version": {"N": str(version + 1)}, "expires_at": self._expires(), **extra,
            },
        }
        if before is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(version)}}
        return {"Put": put}

    def _worker_update(self, pk: str, batch: MetricsBatch) -> dict[str, Any]:
        update = "ADD batches :one SET expires_at = :x"
        values = {":one": {"N": "1"}, ":x": self._expires()}
        if batch.final:
            update += ", final_seq = :seq, final_window = :w"
            values.update({":seq": {"N": str(batch.seq)}, ":w": {"N": str(batch.window)}})
        return {"Update": {
            "TableName": self._table, "Key": _key(pk, worker_sk(batch.worker_id)),
            "UpdateExpression": update, "ExpressionAttributeValues": values,
        }}

    def _query_prefix(self, pk: str, prefix: str) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":p": {"S": prefix}},
            "ConsistentRead": True,
        }
        while True:
            page = self._db.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ connections

    def put_connection(self, connection_id: str, role: str, ttl_s: float = 2 * 3600) -> None:
        self._db.put_item(TableName=self._table, Item={
            "pk": {"S": CONN_PK}, "sk": {"S": connection_id}, "role": {"S": role},
            "connected_at": {"N": str(int(self._clock()))}, "expires_at": self._expires(ttl_s),
        })

    def delete_connection(self, connection_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_key(CONN_PK, connection_id))

    def connections(self) -> list[tuple[str, str]]:
        """(connection_id, role) of every open connection."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": CONN_PK}},
        }
        found = []
        while True:
            page = self._db.query(**kwargs)
            found += [(i["sk"]["S"], i["role"]["S"]) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------------ infrastructure

    def put_infra(self, body: dict[str, Any]) -> None:
        self._db.put_item(TableName=self._table, Item={
            "pk": {"S": "INFRA"}, "sk": {"S": "LATEST"}, "body": {"S": json.dumps(body)},
            "expires_at": self._expires(DAY_S),
        })

    def infra(self) -> dict[str, Any] | None:
        item = self._db.get_item(TableName=self._table, Key=_key("INFRA", "LATEST")).get("Item")
        return json.loads(item["body"]["S"]) if item else None


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _stored(item: dict[str, Any]) -> StoredWindow:
    return StoredWindow(
        batch=MetricsBatch.model_validate_json(item["batch"]["S"]),
        batches=int(item.get("batches", {"N": "1"})["N"]),
        version=int(item["version"]["N"]),
        peak_sent=int(item.get("peak_sent", {"N": "0"})["N"]),
    )
