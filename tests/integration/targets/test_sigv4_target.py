"""SigV4: requests signed with credentials from the default chain, checked by a foreign verifier."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import os
import secrets as random_secrets
from pathlib import Path
from typing import Any

import pytest
from botocore.credentials import Credentials
from partner_service import issue_target
from sigv4_service import serve_sigv4, verify

from stresslab.generation.transactions import TransactionFactory
from stresslab.targets.auth import SigV4Signer
from stresslab.targets.config import HttpTarget, SigV4Auth
from stresslab.targets.secrets import Secrets, environment_resolver
from stresslab.targets.section import parse_target
from stresslab.targets.sender import CredentialsRefused, open_sender

ACCESS_KEY = "AKIASTRESSLABTEST01"


@pytest.fixture
def default_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Credentials only in the environment, as the default chain finds them; no profile files."""
    secret = random_secrets.token_urlsafe(30)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", f"session-{secret}")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return secret


def sigv4_target(url: str) -> HttpTarget:
    """The issue's file with `auth: {type: sigv4, ...}` in place of the headers."""
    data = issue_target(url)
    data.pop("headers")
    data["auth"] = {"type": "sigv4", "service": "execute-api", "region": "us-east-1"}
    target = parse_target(data)
    assert isinstance(target, HttpTarget)
    return target


def payloads(count: int) -> list[dict[str, Any]]:
    factory = TransactionFactory("sigv4", 5, 0)
    return [factory.next(1_767_225_600.0 + i).payload for i in range(count)]


async def test_every_request_signed_from_the_default_chain_is_accepted(
    default_chain: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with serve_sigv4({ACCESS_KEY: default_chain}) as service:
        async with open_sender(sigv4_target(service.url), Secrets(environment_resolver({}))) as (
            sender
        ):
            exchanges = await asyncio.gather(*(sender.send(p) for p in payloads(150)))
        assert service.ledger.rejected == []
        assert len(service.ledger.accepted) == len(exchanges) == 150
        assert {exchange.outcome for exchange in exchanges} == {"ok"}
        assert sorted(service.ledger.accepted) == sorted(e.body.decode() for e in exchanges)
    text = "\n".join(line for e in exchanges for line in sender.describe(e)) + caplog.text
    assert "Authorization: AWS4-HMAC-SHA256 Credential=AKIASTRESSLABTEST01/" in text
    assert "X-Amz-Security-Token: ***" in text
    assert default_chain not in text  # neither the secret key nor the session token


async def test_a_wrong_secret_is_refused_and_the_run_aborts_after_five(
    default_chain: str,
) -> None:
    with serve_sigv4({ACCESS_KEY: "not-" + default_chain}) as service:
        async with open_sender(sigv4_target(service.url), Secrets(environment_resolver({}))) as (
            sender
        ):
            with pytest.raises(CredentialsRefused):
                for payload in payloads(50):
                    await sender.send(payload)
        assert service.ledger.rejected == ["signature mismatch"] * 5
        assert service.ledger.accepted == []


def test_the_verifier_rejects_a_body_changed_after_signing() -> None:
    credentials = Credentials(ACCESS_KEY, "s3cret")
    signer = SigV4Signer(SigV4Auth(type="sigv4", service="execute-api", region="us-east-1"),
                         credentials)
    url = "http://127.0.0.1:9/api/v2/assess"
    body = b'{"txn_ref":"a"}'
    headers = {"Content-Type": "application/json", "Host": "127.0.0.1:9"}
    sent = {**headers, **signer.sign("POST", url, headers, body)}
    signed = {name.lower(): value for name, value in sent.items()}
    keys = {ACCESS_KEY: "s3cret"}
    assert verify("POST", url, signed, body, keys, "execute-api", "us-east-1") is None
    tampered = b'{"txn_ref":"b"}'
    assert verify("POST", url, signed, tampered, keys, "execute-api", "us-east-1") == (
        "the body hash does not match the body"
    )
    rehashed = {**signed, "x-amz-content-sha256": hashlib.sha256(tampered).hexdigest()}
    assert verify("POST", url, rehashed, tampered, keys, "execute-api", "us-east-1") == (
        "signature mismatch"
    )
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=6)
    assert verify("POST", url, signed, body, keys, "execute-api", "us-east-1", now=later) == (
        "the signature is stale"
    )
    assert verify("POST", url, signed, body, keys, "lambda", "us-east-1") == (
        "signed for another region or service"
    )
