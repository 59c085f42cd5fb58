"""The reference target's Bedrock agent: InvokeModel through boto3, answered by botocore's
Stubber (the request checked, the model's answer, throttling and failures)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from lambdas import reference_target
from stresslab.aws.bedrock import BedrockReviewer, parse_review
from stresslab.generation.transactions import TransactionFactory

MODEL = "amazon.nova-micro-v1:0"


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


def _model_answer(text: str) -> dict[str, Any]:
    data = json.dumps({"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                       "stopReason": "end_turn",
                       "usage": {"inputTokens": 120, "outputTokens": 18}}).encode()
    return {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "application/json"}


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    # Given the reference target with Bedrock on, its bedrock-runtime client stubbed
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "POWERTOOLS_TRACE_DISABLED": "true",
                        "BEDROCK_ENABLED": "true", "BEDROCK_MODEL_ID": MODEL}.items():
        monkeypatch.setenv(name, value)
    runtime = boto3.client("bedrock-runtime", region_name="us-east-1")
    monkeypatch.setattr(reference_target, "client", lambda service: runtime)
    reference_target._reviewer.cache_clear()
    with Stubber(runtime) as stubber:
        yield stubber
    reference_target._reviewer.cache_clear()


def _payload() -> dict[str, Any]:
    return dict(TransactionFactory("r1", 1, 0).next(time.time()).payload)


def test_the_model_reviews_each_transaction_beside_the_agents(bedrock: Stubber) -> None:
    payload = _payload()
    body = BedrockReviewer(None, MODEL).request_body(payload)
    bedrock.add_response("invoke_model", _model_answer(
        'Here: {"risk": 0.82, "reason": "new device, foreign merchant, high amount"}'),
        expected_params={"modelId": MODEL, "body": json.dumps(body),
                         "contentType": "application/json", "accept": "application/json"})

    answered = reference_target.handler(_http(json.dumps(payload)), Context())

    # Then the request was Nova's messages-v1 body, and the answer carries the model's review
    bedrock.assert_no_pending_responses()
    assert body["schemaVersion"] == "messages-v1"
    assert payload["transaction_id"] in body["messages"][0]["content"][0]["text"]
    assert answered["statusCode"] == 200
    result = json.loads(answered["body"])
    review = result["agents"]["bedrock_review"]
    assert review["score"] == 0.82
    assert review["reasons"] == ["new device, foreign merchant, high amount"]
    assert review["ms"] >= 0
    assert result["decision"] in ("approve", "review", "block")


def test_bedrock_throttling_is_the_targets_429(bedrock: Stubber) -> None:
    bedrock.add_client_error("invoke_model", service_error_code="ThrottlingException",
                             service_message="Too many requests", http_status_code=429)

    answered = reference_target.handler(_http(json.dumps(_payload())), Context())

    assert answered["statusCode"] == 429
    assert json.loads(answered["body"]) == {"error": "bedrock throttled"}


def test_another_bedrock_failure_is_a_502_naming_its_code(bedrock: Stubber) -> None:
    bedrock.add_client_error("invoke_model", service_error_code="AccessDeniedException",
                             service_message="no access to the model", http_status_code=403)

    answered = reference_target.handler(_http(json.dumps(_payload())), Context())

    assert answered["statusCode"] == 502
    assert json.loads(answered["body"]) == {"error": "bedrock: AccessDeniedException"}


@pytest.mark.parametrize(("text", "score", "reasons"), [
    ('{"risk": 0.1, "reason": "usual merchant"}', 0.1, ["usual merchant"]),
    ('{"risk": 7, "reason": "x"}', 1.0, ["x"]),
    ('{"risk": -1}', 0.0, []),
    ('{"risk": "NaN"} then {"risk": 0.4}', 0.4, []),
    ("I cannot help with that.", None, ["model answer not understood"]),
])
def test_the_models_answer_is_read_defensively(
    text: str, score: float | None, reasons: list[str]
) -> None:
    assert parse_review(text) == (score, reasons)


def test_only_a_nova_model_takes_the_nova_body() -> None:
    with pytest.raises(ValueError, match="not an Amazon Nova model"):
        BedrockReviewer(None, "anthropic.claude-3-haiku-20240307-v1:0")
