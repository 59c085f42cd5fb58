"""Handlers and helpers that need no AWS: the reference target, claims, JWT edge cases, ASL."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lambdas import reference_target
from lambdas.control_api import groups_of
from stresslab.aws.cognito_jwt import CognitoJwtVerifier, InvalidToken
from stresslab.transactions import TransactionFactory

POOL = "eu-west-1_Pool"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _token(claims: dict[str, Any], alg: str = "RS256") -> str:
    head = _b64(json.dumps({"alg": alg, "kid": "k"}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = KEY.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{_b64(signature)}"


def _verifier() -> CognitoJwtVerifier:
    numbers = KEY.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "kid": "k", "n": _b64(numbers.n.to_bytes(256, "big")),
                      "e": _b64(numbers.e.to_bytes(3, "big"))}]}
    return CognitoJwtVerifier(POOL, "app", jwks_fetcher=lambda url: jwks)


def test_access_tokens_are_checked_against_client_id() -> None:
    issuer = f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
    claims = {"iss": issuer, "token_use": "access", "client_id": "app", "sub": "s",
              "exp": time.time() + 60, "username": "ana", "cognito:groups": ["operators"]}
    verified = _verifier().verify(_token(claims))
    assert verified.is_operator and verified.username == "ana"
    with pytest.raises(InvalidToken, match="another user pool"):
        _verifier().verify(_token({**claims, "iss": issuer + "x"}))
    with pytest.raises(InvalidToken, match="RS256"):
        _verifier().verify(_token(claims, alg="HS256"))
    with pytest.raises(InvalidToken, match="not a JWT"):
        _verifier().verify("abc")


@pytest.mark.parametrize(("claims", "groups"), [
    ({"cognito:groups": "[operators viewers]"}, {"operators", "viewers"}),
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
