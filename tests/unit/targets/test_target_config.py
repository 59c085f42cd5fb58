"""The target section: each kind validates, bad input is one line naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stresslab.targets.config import (
    BearerAuth,
    HttpTarget,
    KinesisTarget,
    LambdaTarget,
    SigV4Auth,
    SqsTarget,
    StepFunctionsExpressTarget,
    TargetConfigError,
)
from stresslab.targets.section import parse_target

# the issue's scenario file, as written there
ISSUE_SCENARIO = Path(__file__).parents[2] / "integration" / "targets" / "partner-api.yaml"
PARTNER = yaml.safe_load(ISSUE_SCENARIO.read_text())["target"]


def with_(**changes: Any) -> dict[str, Any]:
    return {**PARTNER, **changes}


def test_the_issues_example_validates() -> None:
    target = parse_target(PARTNER)
    assert isinstance(target, HttpTarget)
    assert target.headers == {"X-Api-Key": "${env:FRAUD_API_KEY}"}  # resolved at the edge only
    assert target.response.decision_path == "outcome.action"
    assert target.verify is True and target.method == "POST"


def test_the_same_with_sigv4_in_place_of_the_headers() -> None:
    data = {k: v for k, v in PARTNER.items() if k != "headers"}
    target = parse_target({**data, "auth": {"type": "sigv4", "service": "execute-api",
                                            "region": "us-east-1"}})
    assert isinstance(target.auth, SigV4Auth) and target.auth.region == "us-east-1"


def test_kind_defaults_to_http_and_decision_to_the_top_level_field() -> None:
    target = parse_target({"url": "https://fraud.example.com/score"})
    assert isinstance(target, HttpTarget)
    assert target.response.decision_path == "decision"


@pytest.mark.parametrize(("data", "kind"), [
    ({"kind": "lambda", "function": "fraud-scorer", "qualifier": "live"}, LambdaTarget),
    ({"kind": "stepfunctions-express",
      "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:Assess"},
     StepFunctionsExpressTarget),
    ({"kind": "kinesis", "stream": "txns", "partition_key": "card.card_id",
      "outcome": {"kinesis": "decisions"}}, KinesisTarget),
    ({"kind": "sqs", "queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/in",
      "outcome": {"dynamodb": "decisions", "key": "txn_id"}}, SqsTarget),
])
def test_every_kind(data: dict[str, Any], kind: type) -> None:
    assert isinstance(parse_target(data), kind)


def test_oauth2_client_credentials() -> None:
    target = parse_target(with_(headers={}, auth={
        "type": "bearer", "token_url": "https://idp.example.com/token",
        "client_id": "${env:CID}", "client_secret": "${env:CSECRET}", "scope": "fraud/assess",
    }))
    assert isinstance(target.auth, BearerAuth) and target.auth.is_client_credentials


def test_timeout_takes_a_duration() -> None:
    assert parse_target(with_(timeout="2s")).timeout == 2.0


@pytest.mark.parametrize(("data", "message"), [
    (with_(kind="ftp"),
     "target.kind: unknown kind 'ftp' (use one of http, lambda, stepfunctions-express, "
     "kinesis, sqs)"),
    (with_(url="ftp://x"), "target.url: must be an http(s) URL, got 'ftp://x'"),
    (with_(auth={"type": "sigv4", "service": "execute-api"}), "target.auth.region: Field required"),
    (with_(auth={"type": "bearer"}),
     "target.auth: needs token, or token_url + client_id + client_secret"),
    (with_(auth={"type": "bearer", "token": "t", "token_url": "https://i/t", "client_id": "c",
                 "client_secret": "s"}),
     "target.auth: give either token or token_url + client_id + client_secret, not both"),
    (with_(request={"body": {"a": {"b": "{{ nope }}"}}}),
     "target.request.body: unknown path 'nope' in the transaction (at a.b)"),
    (with_(request={"body": {"a": "{{ currency | shout }}"}}),
     "target.request.body: unknown filter 'shout' (use one of epoch_ms, upper, lower, str) (at a)"),
    (with_(headers={"X-Api-Key": "${vault:key}"}),
     "target.headers: X-Api-Key: unknown secret source 'vault' in ${vault:…} "
     "(use one of env, secretsmanager, ssm)"),
    (with_(headers={"X-Api-Key": "a\r\nInjected: 1"}),
     "target.headers: X-Api-Key: the value holds a line break"),
    (with_(response={"score": "risk"}), "target.response: score needs a threshold"),
    (with_(response={"decision": "x", "decision_map": {"A": "deny"}}),
     "target.response.decision_map.A: Input should be 'approve', 'review' or 'block'"),
    (with_(bogus=1), "target.bogus: Extra inputs are not permitted"),
    (with_(timeout=float("inf")),
     "target.timeout: not a duration: inf (a finite number of seconds)"),
    ({"kind": "kinesis", "stream": "s", "outcome": {"sqs": "http://q", "dynamodb": "t"}},
     "target.outcome: name exactly one of kinesis (stream), sqs (queue URL), dynamodb (table)"),
    ({"kind": "lambda"}, "target.function: Field required"),
    ({"kind": "kinesis", "stream": "s", "partition_key": "card.pan",
      "outcome": {"kinesis": "decisions"}},
     "target.partition_key: unknown path 'card.pan' in the transaction"),
    ({"kind": "stepfunctions-express", "state_machine_arn": "Assess"},
     "target.state_machine_arn: String should match pattern "
     "'^arn:aws[a-z-]*:states:[a-z0-9-]+:\\d{12}:stateMachine:[A-Za-z0-9_-]+$'"),
    (with_(auth={"type": "mtls", "cert_file": "c.pem", "key_file": "k.pem"}),
     "target: mtls and ca_file need an https:// url"),
    ("http://x", "target: expected a mapping with kind, url, …"),
    (with_(request={"body": {"auth": ["${vault:k}"]}}),
     "target.request.body: unknown secret source 'vault' in ${vault:…} "
     "(use one of env, secretsmanager, ssm)"),
    (with_(auth={"type": "kerberos"}),
     "target.auth: Input tag 'kerberos' found using 'type' does not match any of the expected "
     "tags: 'api_key', 'bearer', 'sigv4', 'mtls'"),
    (with_(auth={"type": "sigv4", "service": "execute-api", "region": "mars"}),
     "target.auth.region: String should match pattern '^[a-z]{2}(-[a-z]+)+-\\d{1,2}$'"),
    (with_(headers={"Content-Length": "10"}),
     "target.headers: Content-Length is set by stresslab for each request"),
    (with_(headers={"host": "other.example.com"}),
     "target.headers: host is set by stresslab for each request"),
    (with_(url="https://user:pw@fraud.example.com/x"),
     "target.url: no credentials in the URL (use auth, headers or ${env:NAME} in the query)"),
    (with_(url="https://fraud.example.com/x?code=${vault:k}"),
     "target.url: unknown secret source 'vault' in ${vault:…} "
     "(use one of env, secretsmanager, ssm)"),
])
def test_bad_input_is_one_line_naming_the_field(data: Any, message: str) -> None:
    with pytest.raises(TargetConfigError) as caught:
        parse_target(data)
    assert str(caught.value) == message


def test_decision_map_takes_the_platforms_numeric_codes() -> None:
    # YAML reads `{0: approve, 2: block}` with int keys; the answer's value is read as text
    target = parse_target(with_(response={"decision": "r.code",
                                           "decision_map": {0: "approve", 2: "block"}}))
    assert target.response.decision_map == {"0": "approve", "2": "block"}
