"""The kinesis and sqs kinds with their outcome sources, against moto in server mode.

A platform thread reads what stresslab put and writes decisions (some twice, some never) to a
Kinesis stream, an SQS queue or a DynamoDB table. Two workers (shards) share the outcome source.
Counts reconcile: the platform received what was sent, ok + errors + timeouts = sent, the
missing decisions are exactly the timeouts, a decision seen twice counts once, and decisions
score through the mapping.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aws_stream_platform import (
    CREDENTIALS,
    MAPPING,
    Platform,
    client,
    make_queue,
    make_stream,
    make_table,
    moto_server,
)

from stresslab.generation.transactions import TransactionFactory
from stresslab.ports import Outcome
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.aws_calls import TargetUnavailable
from stresslab.targets.aws_streams import Clients, StreamTarget
from stresslab.targets.config import AnyTarget, KinesisTarget, SqsTarget
from stresslab.targets.factory import TargetContext, open_target
from stresslab.targets.response import ResponseReader
from stresslab.targets.secrets import Secrets, environment_resolver
from stresslab.targets.section import parse_target
from stresslab.targets.sender import body_renderer

PER_WORKER = 60
# every decision must be seen before its send times out: at load 9 on two cores one took 10 s
# (moto, the platform thread and both workers share one process); the silent ones wait it out
RECONCILE_TIMEOUT_S = 30
REQUEST = {"body": {
    "txn_ref": "{{ transaction_id }}",
    "value": {"minor": "{{ amount_minor }}", "ccy": "{{ currency }}"},
    "card_bin": "{{ card.bin }}",
}}
RESPONSE = {"decision": "verdict", "decision_map": MAPPING}


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto_server() as url:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url


def context(timeout: float = 6) -> TargetContext:
    # generous: the platform thread and moto share two busy cores with the workers
    return TargetContext(settings=HttpSettings(timeout=timeout),
                         secrets=Secrets(environment_resolver(dict(os.environ))))


def payloads(shard: int, count: int) -> Iterator[dict[str, Any]]:
    factory = TransactionFactory("streams", 3, shard)
    for i in range(count):
        yield factory.next(1_767_225_600.0 + i / 100).payload


async def one_worker(section: AnyTarget, shard: int) -> tuple[dict[str, Outcome], Any]:
    async with open_target(section, context(RECONCILE_TIMEOUT_S)) as target:
        assert isinstance(target, StreamTarget)
        # all at once, as a worker offers them; each waits for its own decision
        items = list(payloads(shard, PER_WORKER))
        outcomes = await asyncio.gather(*(target.send(payload) for payload in items))
        return ({p["transaction_id"]: o for p, o in zip(items, outcomes, strict=True)},
                target.waits)


def section_for(url: str, source: str, outcome: str) -> dict[str, Any]:
    if source == "kinesis":
        entry: dict[str, Any] = {"kind": "kinesis", "stream": make_stream(url, "transactions"),
                                 "partition_key": "card.bin"}
    else:
        entry = {"kind": "sqs", "queue_url": make_queue(url, "transactions")}
    if outcome == "kinesis":
        entry["outcome"] = {"kinesis": make_stream(url, "decisions"), "transaction_id": "txn.ref"}
    elif outcome == "sqs":
        entry["outcome"] = {"sqs": make_queue(url, "decisions"), "transaction_id": "txn.ref"}
    else:
        entry["outcome"] = {"dynamodb": make_table(url, "decisions")}
    return {**entry, "request": REQUEST, "response": RESPONSE}


@pytest.mark.slow  # each case waits RECONCILE_TIMEOUT_S for the transactions left silent
@pytest.mark.parametrize(("source", "outcome"), [
    ("kinesis", "kinesis"), ("kinesis", "dynamodb"), ("sqs", "sqs"), ("sqs", "dynamodb"),
])
async def test_decisions_read_back_reconcile_with_the_platform(moto, source, outcome):
    # Given a platform fed by `source` that answers in `outcome`, some twice, some never
    raw = section_for(moto, source, outcome)
    section = parse_target(raw)
    where = raw["outcome"].get("kinesis") or raw["outcome"].get("sqs") or "decisions"
    feed = raw.get("stream") or raw.get("queue_url")
    with Platform(moto, (source, feed), (outcome, where)) as platform:
        # When two workers (shards 0 and 1) each send 60 transactions
        results = await asyncio.gather(one_worker(section, 0), one_worker(section, 1))
    outcomes = {ref: o for worker, _ in results for ref, o in worker.items()}
    # Then the platform received exactly what was sent, once each
    assert sorted(platform.received) == sorted(outcomes) and len(outcomes) == 2 * PER_WORKER
    kinds = Counter(o.kind for o in outcomes.values())
    assert kinds["ok"] + kinds["timeout"] == len(outcomes)  # no errors, nothing lost
    # the transactions the platform left without a decision are exactly the timeouts
    assert sorted(r for r, o in outcomes.items() if o.kind == "timeout") == sorted(platform.silent)
    reader = ResponseReader(section.response)
    for ref, action in platform.decided.items():
        assert outcomes[ref].kind == "ok", (ref, outcomes[ref])
        assert reader.read(outcomes[ref].body).decision == MAPPING[action]
    # a decision seen twice resolved its transaction once
    assert sum(waits.seen for _, waits in results) == kinds["ok"]
    copies_seen = sum(waits.duplicates_or_late for _, waits in results)
    if outcome == "kinesis":  # both copies arrive in one read
        assert copies_seen == len(platform.twice) > 0
    if outcome == "sqs":
        # each worker deleted what it read of its own and gave back the other's: all that can
        # be left are second copies no worker had read yet when it closed. A message SQS
        # delivered again (same MessageId) is counted as redelivered, never as a copy
        attributes = client("sqs", moto).get_queue_attributes(QueueUrl=where, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        ])["Attributes"]
        left = sum(int(count) for count in attributes.values())
        # (and none was deleted uncounted): exactly the second copies not counted are left
        assert copies_seen <= len(platform.twice) and left == len(platform.twice) - copies_seen


class SlowFirstDelete:
    """SQS whose first DeleteMessageBatch takes longer than the queue's visibility timeout
    (a worker too slow to delete in time), and which notes each MessageId's deliveries."""

    def __init__(self, real: Any, delay_s: float) -> None:
        self._real, self._delay_s = real, delay_s
        self.deliveries: Counter[str] = Counter()
        self.slow_delete_done = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._real.receive_message(**kwargs)
        self.deliveries.update(m["MessageId"] for m in answer.get("Messages", []))
        return answer

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        if not self.slow_delete_done.is_set():
            time.sleep(self._delay_s)
            self.slow_delete_done.set()
        answer: dict[str, Any] = self._real.delete_message_batch(**kwargs)
        return answer


async def test_a_decision_sqs_delivers_again_is_not_counted_as_a_second_copy(moto):
    # Given a decision queue whose messages come back after 1 s unless deleted, and a worker
    # whose first delete takes 2.5 s: SQS delivers those decisions again (at least once)
    raw = section_for(moto, "sqs", "sqs")
    where = raw["outcome"]["sqs"]
    client("sqs", moto).set_queue_attributes(QueueUrl=where,
                                             Attributes={"VisibilityTimeout": "1"})
    section = parse_target(raw)
    assert isinstance(section, SqsTarget)
    sqs = SlowFirstDelete(client("sqs", moto), delay_s=2.5)
    with Platform(moto, ("sqs", raw["queue_url"]), ("sqs", where)) as platform:
        render = body_renderer(section.request, context().secrets)
        async with StreamTarget(section, Clients(sqs=sqs), render) as target:
            # When 5 transactions are sent (the platform decides each once) and the worker
            # reads on until a decision was delivered twice and the slow delete has ended
            items = list(payloads(0, 5))
            outcomes = await asyncio.gather(*(target.send(p) for p in items))
            for _ in range(200):
                if sqs.slow_delete_done.is_set() and max(sqs.deliveries.values()) > 1:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)  # the redelivered messages' own delete
    # Then each transaction resolved once, and a redelivery is no copy of a decision
    assert [o.kind for o in outcomes] == ["ok"] * 5 and not platform.twice
    redelivered = sum(count - 1 for count in sqs.deliveries.values())
    assert redelivered > 0, sqs.deliveries
    assert target.waits.duplicates_or_late == 0
    assert target.waits.redelivered == redelivered
    # and what came again was deleted again: nothing is left on the queue
    attributes = client("sqs", moto).get_queue_attributes(QueueUrl=where, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
    ])["Attributes"]
    assert sum(int(count) for count in attributes.values()) == 0


class RefusingEveryThird:
    """Kinesis whose PutRecords refuses every third record of each call (a hot shard)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.refused: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        accepted = [r for i, r in enumerate(Records) if i % 3 != 2]
        answer = self._real.put_records(StreamName=StreamName, Records=accepted)["Records"]
        results, taken = [], iter(answer)
        for i, record in enumerate(Records):
            if i % 3 == 2:
                self.refused.append(record["PartitionKey"])
                results.append({"ErrorCode": "ProvisionedThroughputExceededException",
                                "ErrorMessage": "Rate exceeded for shard"})
            else:
                results.append(next(taken))
        return {"FailedRecordCount": len(Records) - len(accepted), "Records": results}


async def test_records_a_put_refuses_are_counted_as_errors_never_lost(moto):
    # Given PutRecords that refuses a third of each batch, and a platform answering the rest
    raw = section_for(moto, "kinesis", "dynamodb")
    raw["partition_key"] = "transaction_id"
    section = parse_target(raw)
    assert isinstance(section, KinesisTarget)
    kinesis = RefusingEveryThird(client("kinesis", moto))
    clients = Clients(kinesis=kinesis, dynamodb=client("dynamodb", moto))
    with Platform(moto, ("kinesis", "transactions"), ("dynamodb", "decisions")) as platform:
        # When 60 transactions are sent
        render = body_renderer(section.request, context().secrets)
        async with StreamTarget(section, clients, render) as target:
            items = list(payloads(0, PER_WORKER))
            outcomes = await asyncio.gather(*(target.send(p) for p in items))
    by_ref = {p["transaction_id"]: o for p, o in zip(items, outcomes, strict=True)}
    # Then each refused record is an http_429 (a throttle), and the rest reconcile
    assert kinesis.refused
    assert {by_ref[ref].kind for ref in kinesis.refused} == {"http_429"}
    assert sorted(platform.received) == sorted(set(by_ref) - set(kinesis.refused))
    kinds = Counter(o.kind for o in outcomes)
    assert kinds["http_429"] + kinds["ok"] + kinds["timeout"] == len(items)
    assert kinds["timeout"] == len(platform.silent)


@pytest.mark.parametrize(("change", "named"), [
    ({"stream": "no-such-stream"}, "target.stream: Kinesis stream 'no-such-stream'"),
    ({"outcome": {"dynamodb": "no-such-table"}}, "target.outcome.dynamodb: DynamoDB table"),
])
async def test_an_unknown_stream_or_table_is_one_line_naming_it(moto, change, named):
    # Given a section naming a stream or table that does not exist
    section = parse_target({**section_for(moto, "kinesis", "kinesis"), **change})
    # When the target is opened / Then it refuses with one line naming the field, sends nothing
    with pytest.raises(TargetUnavailable) as refused:
        async with open_target(section, context()):
            pass
    message = str(refused.value)
    assert message.startswith(named) and "\n" not in message
    assert "ResourceNotFoundException" in message


@pytest.mark.parametrize(("target", "named"), [
    ("  kind: kinesis\n  stream: no-such-stream\n  outcome: {dynamodb: decisions}\n",
     "target.stream: Kinesis stream 'no-such-stream' cannot be used (ResourceNotFoundException)"),
    ("  kind: lambda\n  function: no-such-function\n",
     "target.function: Lambda function 'no-such-function' cannot be used"),
])
def test_stresslab_run_refuses_an_unknown_stream_or_function_with_exit_2(
    moto, tmp_path, target, named
):
    # Given a scenario whose target names a stream or function this account does not have
    make_table(moto, "decisions")
    scenario = tmp_path / "platform.yaml"
    scenario.write_text("name: platform\nworkers: 1\n"
                        "phases: [{shape: constant, tps: 5, duration: 2s}]\ntarget:\n" + target)
    # When it is run
    done = subprocess.run(
        [sys.executable, "-m", "stresslab", "run", str(scenario), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )
    # Then it exits 2 with one line naming the field, and nothing was put anywhere
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
