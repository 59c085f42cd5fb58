"""On AWS a run's target section reads only Secrets Manager secrets under the deploy's prefix
(stresslab/targets/): never the load generators' own environment (which holds their AWS
credentials), never SSM (they have no grant for it), never another secret of the account.
Refused by the control API and by Plan in one line, before any worker starts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas import load_generator, plan
from stresslab.aws.planning import TARGET_SECRET_PREFIX
from stresslab.aws.store import DynamoRunStore, RunNotFound

from .sfn_harness import FakeContext
from .test_control_api import request
from .test_target_key import KEY, KeyedServer, keyed_server  # noqa: F401 - the fixture
from .world import TABLE, World, reset_handlers

URL = "http://127.0.0.1:9/v1/score"


def scenario(header: str, url: str = URL) -> dict[str, Any]:
    return {"name": "partner", "workers": 1, "seed": 5,
            "phases": [{"shape": "constant", "tps": 20, "duration": "2s"}],
            "target": {"url": url, "headers": {"x-api-key": header}}}


def _tagged_secret(aws: World, name: str) -> None:
    aws.client("secretsmanager").create_secret(
        Name=name, SecretString=KEY, Tags=[{"Key": "stresslab:target-key", "Value": "true"}])


def _plan(run_id: str, run_input: dict[str, Any]) -> dict[str, Any]:
    return plan.handler({"input": run_input, "run_id": run_id,
                         "execution_arn": f"arn:aws:states:::execution:x:{run_id}"},
                        FakeContext())


REFUSED = [
    ("${env:AWS_SECRET_ACCESS_KEY}",
     "target secret ${env:AWS_SECRET_ACCESS_KEY} is not allowed on AWS: the load generators' "
     "environment holds their own credentials; keep it in Secrets Manager as "
     "${secretsmanager:stresslab/targets/NAME}"),
    ("${secretsmanager:prod/database-password}",
     "target secret ${secretsmanager:prod/database-password} is not allowed on AWS: "
     "runs read only secrets named stresslab/targets/…"),
    ("${ssm:/stresslab/targets/key}",
     "target secret ${ssm:/stresslab/targets/key} is not allowed on AWS: the load generators "
     "have no SSM grant; keep it in Secrets Manager as ${secretsmanager:stresslab/targets/NAME}"),
]


@pytest.mark.parametrize("header, line", REFUSED)
def test_plan_refuses_a_secret_outside_the_prefix_and_records_nothing(
    aws: World, header: str, line: str,
) -> None:
    _tagged_secret(aws, "prod/database-password")  # readable by the grant's tag, not by name
    planned = _plan("outside-1", {"scenario": scenario(header), "target_url": URL})
    assert planned == {"valid": False, "error": line}
    with pytest.raises(RunNotFound):
        DynamoRunStore(aws.client("dynamodb"), TABLE).get_run("outside-1")


def test_the_target_url_is_held_to_the_same_rule(aws: World) -> None:
    planned = _plan("outside-2", {"scenario": scenario("k"),
                                  "target_url": URL + "?k=${env:AWS_SESSION_TOKEN}"})
    assert planned["valid"] is False and "${env:AWS_SESSION_TOKEN}" in planned["error"]


@pytest.mark.parametrize("header, line", REFUSED[:2])
def test_the_control_api_refuses_it_before_an_execution_starts(
    aws: World, header: str, line: str,
) -> None:
    answer = request("POST", "/runs", {"scenario": scenario(header), "target_url": URL})
    assert answer == {"status": 400, "body": {"error": line}}
    machines = aws.client("stepfunctions").list_state_machines()["stateMachines"]
    for machine in machines:
        executions = aws.client("stepfunctions").list_executions(
            stateMachineArn=machine["stateMachineArn"])["executions"]
        assert executions == []


def test_a_secret_under_the_prefix_is_read_and_sent(
    aws: World, keyed_server: KeyedServer, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setattr("stresslab.aws.health.SATURATED_CPU_PCT", 10_000.0)
    name = f"{TARGET_SECRET_PREFIX}partner"
    _tagged_secret(aws, name)
    planned = _plan("inside-1", {"scenario": scenario(f"${{secretsmanager:{name}}}",
                                                      keyed_server.url),
                                 "target_url": keyed_server.url})
    assert planned["valid"], planned
    wave = planned["waves"][0]
    results = [load_generator.handler({"item": {
        "run_id": "inside-1", "wave": wave["index"], "shard": shard,
        "shards": planned["shard_count"], "start_s": wave["start_s"], "end_s": wave["end_s"],
        "run_started_at": planned["run_started_at"], "spec": planned["spec"],
        "target": planned["target"],
    }}, FakeContext()) for shard in planned["shards"]]
    assert sum(r["sent"] for r in results) == 40 == keyed_server.accepted
    record = DynamoRunStore(aws.client("dynamodb"), TABLE).get_run("inside-1")
    assert KEY not in json.dumps(record)


def test_a_deploy_sets_its_own_prefix_in_both_functions(
    aws: World, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TARGET_SECRET_PREFIX", "partner-keys/")
    reset_handlers()
    try:
        ours = {"scenario": scenario("${secretsmanager:partner-keys/api}"), "target_url": URL}
        default = {"scenario": scenario("${secretsmanager:stresslab/targets/api}"),
                   "target_url": URL}
        assert _plan("own-1", ours)["valid"] is True
        refused = _plan("own-2", default)
        assert refused["valid"] is False and "named partner-keys/…" in refused["error"]
        answer = request("POST", "/runs", default)
        assert answer["status"] == 400 and "named partner-keys/…" in answer["body"]["error"]
    finally:
        monkeypatch.delenv("TARGET_SECRET_PREFIX")
        reset_handlers()
