"""The load generators' IAM grants follow the scenario's target (context `targets` or
`target_scenario`): only what each kind calls, on the resources it names, cdk-nag clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.context import StresslabContext, load_context, read_cdk_json_context
from stacks.stresslab_stack import StresslabStack
from tests.infrastructure.conftest import ROOT, SynthesizedApp, _nag_findings

ACCOUNT = "123456789012"
TARGETS: list[dict[str, Any]] = [
    {"kind": "lambda", "function": "fraud-orchestrator", "qualifier": "live"},
    {"kind": "stepfunctions-express",
     "state_machine_arn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:fraud-express"},
    {"kind": "kinesis", "stream": "transactions-in",
     "outcome": {"dynamodb": "fraud-decisions"}},
    {"kind": "sqs", "queue_url": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/txns-in",
     "outcome": {"sqs": f"https://sqs.eu-west-1.amazonaws.com/{ACCOUNT}/decisions-out"}},
    {"kind": "kinesis", "stream": "transactions-2", "outcome": {"kinesis": "decisions-2"}},
]
TARGET_ACTIONS = {
    "lambda:InvokeFunction", "states:StartSyncExecution", "sqs:SendMessage",
    "sqs:ReceiveMessage", "dynamodb:GetItem", "kinesis:GetRecords",
}  # (BatchGetItem is granted on the run table anyway: the stop flags)


def _worker_statements(template: Template) -> list[dict[str, Any]]:
    """The statements of the load generator's role policies."""
    roles = template.find_resources("AWS::IAM::Role")
    worker_roles = {name for name in roles if name.startswith("LoadGenerators")}
    statements = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        attached = {role["Ref"] for role in policy["Properties"].get("Roles", [])}
        if attached & worker_roles:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    assert statements, "no policy on the load generator's role"
    return statements


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def _granted(statements: list[dict[str, Any]]) -> dict[str, str]:
    """action -> the JSON of the resources it is granted on (all statements merged)."""
    granted: dict[str, list[Any]] = {}
    for statement in statements:
        resources = statement["Resource"]
        for action in _actions(statement):
            granted.setdefault(action, []).extend(
                resources if isinstance(resources, list) else [resources])
    return {action: json.dumps(resources) for action, resources in granted.items()}


@pytest.fixture(scope="module")
def with_targets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, list[str]]:
    outdir = tmp_path_factory.mktemp("cdk.targets")
    context = {**read_cdk_json_context(ROOT / "cdk.json"), "targets": json.dumps(TARGETS)}
    app = cdk.App(outdir=str(outdir), context=context)
    stack = cdk_app.build(app)[0]
    assert isinstance(stack, StresslabStack)
    findings = _nag_findings([stack])
    return Template.from_stack(stack), findings["error"] + findings["warning"]


def test_without_targets_the_load_generators_get_no_target_grants(
    synthesized: SynthesizedApp,
) -> None:
    # Given the app synthesized without `targets` / Then no target kind's action is granted
    granted = _granted(_worker_statements(synthesized.template))
    assert TARGET_ACTIONS.isdisjoint(granted)


def test_each_kind_gets_only_its_calls_on_the_resources_it_names(with_targets) -> None:
    # Given the app synthesized with one target of each kind
    template, _ = with_targets
    granted = _granted(_worker_statements(template))
    # Then lambda may invoke the named function and its qualifier, nothing else
    assert "function:fraud-orchestrator" in granted["lambda:InvokeFunction"]
    assert "function:fraud-orchestrator:live" in granted["lambda:InvokeFunction"]
    # the workflow may be started synchronously (not StartExecution)
    assert granted["states:StartSyncExecution"].count("stateMachine:fraud-express") == 1
    assert "states:StartExecution" not in granted
    # kinesis puts go to the input streams; the outcome stream is read, never written
    assert "stream/transactions-in" in granted["kinesis:PutRecords"]
    assert "stream/decisions-2" not in granted["kinesis:PutRecords"]
    assert "stream/decisions-2" in granted["kinesis:GetRecords"]
    assert "stream/transactions-in" not in granted["kinesis:GetRecords"]
    # sqs sends to the input queue (its ARN from the URL), reads and deletes from the outcome
    assert "arn:\", {\"Ref\": \"AWS::Partition\"}, \":sqs:eu-west-1:123456789012:txns-in" in (
        granted["sqs:SendMessage"])
    assert "decisions-out" not in granted["sqs:SendMessage"]
    assert "decisions-out" in granted["sqs:ReceiveMessage"]
    assert "decisions-out" in granted["sqs:DeleteMessage"]
    # the outcome table is read by key, never written or scanned
    assert "table/fraud-decisions" in granted["dynamodb:GetItem"]
    assert "table/fraud-decisions" in granted["dynamodb:BatchGetItem"]
    assert not {"dynamodb:PutItem", "dynamodb:Scan"} & set(granted)
    # and no statement on the worker's role grants a wildcard action
    assert not [action for action in granted if action.endswith("*")]


def test_target_grants_are_cdk_nag_clean(with_targets) -> None:
    _, findings = with_targets
    assert findings == []


def test_a_scenario_file_gives_its_target(tmp_path: Path) -> None:
    # Given a scenario file with a kinesis target
    scenario = tmp_path / "platform.yaml"
    scenario.write_text(
        "name: platform\nphases: [{shape: constant, tps: 10, duration: 5s}]\n"
        "target:\n  kind: kinesis\n  stream: txns\n  outcome: {dynamodb: decisions}\n"
    )
    # When it is named in context / Then its target is one of the context's targets
    context = load_context(cdk.App(context={"target_scenario": str(scenario)}).node)
    assert [target.kind for target in context.targets] == ["kinesis"]
    assert StresslabContext().targets == []


@pytest.mark.parametrize(("raw", "named"), [
    ({"targets": '[{"kind": "lambda"}]'}, "context key 'targets.0.function'"),
    ({"targets": '[{"kind": "carrier-pigeon"}]'}, "context key 'targets.0'"),
    ({"target_scenario": "no/such/scenario.yaml"}, "target_scenario"),
])
def test_a_bad_target_in_context_is_one_line_naming_it(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(SystemExit) as exited:
        load_context(cdk.App(context=raw).node)
    message = str(exited.value)
    assert named in message and "\n" not in message
