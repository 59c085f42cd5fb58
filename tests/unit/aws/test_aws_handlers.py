"""Handlers and helpers that need no AWS: the reference target, the operators' groups claim."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from lambdas import reference_target
from lambdas.control_api import groups_of
from stresslab.generation.transactions import TransactionFactory


@pytest.mark.parametrize(("claims", "groups"), [
    ({"cognito:groups": "[operators viewers]"}, {"operators", "viewers"}),
    # Cognito group names may hold commas: "viewers,operators" is one group, not two
    ({"cognito:groups": "[viewers,operators]"}, {"viewers,operators"}),
    ({"cognito:groups": 7}, set()),
    ({"cognito:groups": ["operators"]}, {"operators"}),
    ({}, set()),
])
def test_groups_from_http_api_claims(claims: dict[str, Any], groups: set[str]) -> None:
    assert groups_of(claims) == groups


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "reference", 512, "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:reference"


def _http(body: str) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": "POST /v1/score", "rawPath": "/v1/score",
            "rawQueryString": "", "headers": {"content-type": "application/json"},
            "requestContext": {"http": {"method": "POST", "path": "/v1/score",
                                        "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                                        "userAgent": "t"},
                               "requestId": "r", "routeKey": "POST /v1/score",
                               "stage": "$default"},
            "body": body, "isBase64Encoded": False}


def test_reference_target_scores_a_generated_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    payload = TransactionFactory("r1", 1, 0).next(time.time()).payload

    answered = reference_target.handler(_http(json.dumps(payload)), Context())
    refused = reference_target.handler(_http('{"amount": "lots"}'), Context())

    assert answered["statusCode"] == 200
    assert json.loads(answered["body"])["decision"] in ("approve", "review", "block")
    assert refused["statusCode"] == 400 and "error" in json.loads(refused["body"])
