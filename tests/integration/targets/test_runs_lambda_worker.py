"""The Lambda load generator builds its target from the scenario's `target:` section as local
workers do: the API key read from Secrets Manager (moto), the body templated, the answer mapped;
a wrong key stops the shard with the one line after at most five requests."""

from __future__ import annotations

import contextlib
import secrets as random_secrets
import time
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from partner_service import ISSUE_SCENARIO, PartnerSettings, serve_partner

from stresslab.aws.generator import LoadEvent, TargetRefused, run_work_item, target_opener
from tests.fakes import ListSink

pytestmark = pytest.mark.timeout(120)


class NeverStop:
    def stops(self, run_id: str) -> bool:
        return False


def work_item(
    base_url: str, secret_name: str, tps: int = 100, seconds: int = 2, **target: Any
) -> Any:
    spec = yaml.safe_load(ISSUE_SCENARIO.read_text())
    spec["target"].update(target)
    spec["phases"] = [{"shape": "constant", "tps": tps, "duration": seconds}]
    spec["target"]["url"] = f"{base_url}/api/v2/assess"
    spec["target"]["headers"] = {"X-Api-Key": f"${{secretsmanager:{secret_name}}}"}
    return LoadEvent(item={
        "run_id": "lambda-run", "wave": 0, "shard": 0, "shards": 1, "start_s": 0,
        "end_s": seconds, "run_started_at": time.time() + 0.2, "spec": spec,
        "target": {"url": f"{base_url}/api/v2/assess"},
    }).work_item()


@contextlib.contextmanager
def secret_in_secrets_manager(value: str) -> Any:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        session.client("secretsmanager").create_secret(Name="partner/key", SecretString=value)
        yield session


async def test_the_lambda_worker_reads_the_key_from_secrets_manager_and_maps_answers() -> None:
    key = f"pk_live_{random_secrets.token_hex(12)}"
    with secret_in_secrets_manager(key) as session, \
            serve_partner(PartnerSettings(api_key=key)) as partner:
        sink = ListSink()
        result = await run_work_item(
            work_item(partner.base_url, "partner/key"), sink,
            target_opener(None, None, session), NeverStop(), lambda: 900.0,
        )
        answered = dict(partner.ledger.answered)
    assert result.sent == len(answered) == 200
    decisions: dict[str, int] = {}
    for batch in sink.batches:
        for name, count in batch.decisions.items():
            decisions[name] = decisions.get(name, 0) + count
    mapping = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}
    expected: dict[str, int] = {}
    for action in answered.values():
        expected[mapping[action]] = expected.get(mapping[action], 0) + 1
    assert decisions == expected
    assert key not in "".join(batch.model_dump_json() for batch in sink.batches)


async def test_a_wrong_key_stops_the_shard_with_the_one_line() -> None:
    with secret_in_secrets_manager("wrong-key") as session, \
            serve_partner(PartnerSettings(api_key="the-right-key")) as partner:
        with pytest.raises(TargetRefused) as caught:
            await run_work_item(
                work_item(partner.base_url, "partner/key", tps=200, seconds=5), ListSink(),
                target_opener(None, None, session), NeverStop(), lambda: 900.0,
            )
        refused = partner.ledger.refused
    assert refused == 5
    assert str(caught.value).startswith(
        "the target refuses our credentials (403 from 127.0.0.1); w0-s0 stopped after sending")


async def test_the_number_of_refusals_that_stop_a_run_is_the_sections() -> None:
    with secret_in_secrets_manager("wrong-key") as session, \
            serve_partner(PartnerSettings(api_key="the-right-key")) as partner:
        with pytest.raises(TargetRefused):
            await run_work_item(
                work_item(partner.base_url, "partner/key", tps=200, seconds=5,
                          abort_after_refusals=2),
                ListSink(), target_opener(None, None, session), NeverStop(), lambda: 900.0,
            )
        assert partner.ledger.refused == 2


async def test_a_target_timeout_longer_than_http_timeout_keeps_its_drain_margin() -> None:
    # Given 40 s left in the Lambda and a target whose answers may take 45 s (http.timeout 10 s)
    from stresslab.aws.generator import WaveOverrun
    from tests.fakes import FakeClock, ScriptedTarget

    clock = FakeClock()

    @contextlib.asynccontextmanager
    async def open_target(target: Any, spec: Any) -> Any:
        yield ScriptedTarget(clock)

    item = work_item("http://127.0.0.1:9", "unused", timeout="45s")
    item = item.model_copy(update={"run_started_at": clock.wall()})
    # Then the shard does not start sending what it could not wait for
    with pytest.raises(WaveOverrun):
        await clock.drive(run_work_item(item, ListSink(), open_target, NeverStop(),
                                        lambda: 40.0, clock=clock))
