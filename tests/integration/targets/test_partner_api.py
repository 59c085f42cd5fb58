"""The shaped sender against a foreign FastAPI service: its schema, API key, OAuth2, mTLS.

Counts reconcile with the service's own ledger, decisions are scored through the mapping, and
a secret planted in the environment is searched for in every output and not found.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as random_secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from certificates import Certificates, make_certificates
from partner_service import PartnerSettings, issue_target, serve_partner

from stresslab.generation.transactions import TransactionFactory
from stresslab.targets.auth import AuthError, AuthRefusals
from stresslab.targets.config import HttpTarget, TargetConfigError
from stresslab.targets.secrets import SecretError, Secrets, environment_resolver
from stresslab.targets.section import parse_target
from stresslab.targets.sender import CredentialsRefused, Exchange, ShapedSender, open_sender

MAPPING = {"DECLINE": "block", "CHALLENGE": "review", "ACCEPT": "approve"}

def target_from(base_url: str, **changes: Any) -> HttpTarget:
    target = parse_target({**issue_target(base_url), **changes})
    assert isinstance(target, HttpTarget)
    return target


def transactions(count: int, shard: int = 0) -> Iterator[dict[str, Any]]:
    factory = TransactionFactory("partner", 11, shard)
    for i in range(count):
        yield factory.next(1_767_225_600.0 + i / 100).payload


@pytest.fixture
def planted_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = f"pk_live_{random_secrets.token_hex(12)}"
    monkeypatch.setenv("FRAUD_API_KEY", key)
    return key


def environment_secrets() -> Secrets:
    return Secrets(environment_resolver(dict(os.environ)))


async def send_all(sender: ShapedSender, count: int, concurrency: int = 16) -> list[Exchange]:
    queue = list(transactions(count))
    exchanges: list[Exchange] = []

    async def lane() -> None:
        while queue:
            exchanges.append(await sender.send(queue.pop()))

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return exchanges


def outputs(sender: ShapedSender, exchanges: list[Exchange], extra: str = "") -> str:
    """Everything the sender lets out: probe lines, invalid samples, problems, logs."""
    lines = [line for exchange in exchanges for line in sender.describe(exchange)]
    return "\n".join([*lines, *sender.invalid.samples, extra])


def assert_reconciled(exchanges: list[Exchange], answered: dict[str, str]) -> None:
    assert len(answered) == len(exchanges)  # the service's own count
    for exchange in exchanges:
        assert exchange.outcome == "ok", exchange.problems
        txn_ref = yaml.safe_load(exchange.body)["txn_ref"]
        assert exchange.read is not None
        assert exchange.read.decision == MAPPING[answered[txn_ref]]


async def test_api_key_with_the_issues_file(
    planted_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        target = target_from(partner.base_url)
        async with open_sender(target, environment_secrets()) as sender:
            exchanges = await send_all(sender, 300)
        assert_reconciled(exchanges, partner.ledger.answered)
        assert set(partner.ledger.answered.values()) >= {"ACCEPT", "DECLINE"}
        assert partner.ledger.refused == 0
    text = outputs(sender, exchanges, caplog.text)
    assert "X-Api-Key: ***" in text
    assert planted_key not in text


@pytest.mark.parametrize("odd", ["", "&b=c d/?%"])
async def test_a_secret_in_the_urls_query_is_resolved_and_masked(
    monkeypatch: pytest.MonkeyPatch, planted_key: str, odd: str,
) -> None:
    planted_key += odd  # URL-encoded where it goes into the URL
    monkeypatch.setenv("FRAUD_API_KEY", planted_key)
    with serve_partner(PartnerSettings(api_key=planted_key)) as partner:
        url = f"{partner.base_url}/api/v2/assess?code=${{env:FRAUD_API_KEY}}"
        async with open_sender(target_from(partner.base_url, url=url),
                               environment_secrets()) as sender:
            exchange = await sender.send(next(transactions(1)))
        assert exchange.outcome == "ok"
        assert partner.ledger.query_codes == [planted_key]
    assert sender.describe(exchange)[0] == f"> POST {partner.base_url}/api/v2/assess?code=***"


async def test_a_wrong_key_aborts_after_five_refusals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUD_API_KEY", "wrong-key")
    with serve_partner(PartnerSettings(api_key="the-right-key")) as partner:
        target = target_from(partner.base_url)
        async with open_sender(target, environment_secrets()) as sender:
            sent = []
            with pytest.raises(CredentialsRefused) as caught:
                for transaction in transactions(100):
                    sent.append(await sender.send(transaction))
        assert str(caught.value) == "the target refuses our credentials"
        assert partner.ledger.refused == len(sent) == 5
        assert sender.describe(sent[-1])[-1] == "! the target refuses our credentials"
        assert sender.describe(sent[0])[-1] == "! auth refused (403)"


async def test_a_wrong_key_sends_at_most_five_even_with_many_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FRAUD_API_KEY", "wrong-key")
    with serve_partner(PartnerSettings(api_key="the-right-key")) as partner:
        async with open_sender(target_from(partner.base_url), environment_secrets()) as sender:
            with pytest.raises(CredentialsRefused):
                await send_all(sender, 200, concurrency=32)
        assert partner.ledger.refused == 5


async def test_a_missing_env_var_is_named_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRAUD_API_KEY", raising=False)
    with serve_partner(PartnerSettings(api_key="k")) as partner:
        target = target_from(partner.base_url)
        with pytest.raises(SecretError) as caught:
            async with open_sender(target, environment_secrets()):
                pass
        assert str(caught.value) == "environment variable FRAUD_API_KEY is not set"
        assert partner.ledger.answered == {} and partner.ledger.refused == 0


async def test_answers_without_the_decision_are_invalid_with_three_samples(
    planted_key: str,
) -> None:
    with serve_partner(PartnerSettings(api_key=planted_key, answer_without_action=True)) as p:
        target = target_from(p.base_url)
        async with open_sender(target, environment_secrets()) as sender:
            exchanges = await send_all(sender, 20, concurrency=4)
    assert {exchange.outcome for exchange in exchanges} == {"invalid_response"}
    assert sender.invalid.count == 20
    assert sender.invalid.samples == [
        'decision path outcome.action missing: {"outcome":{"status":"queued"}}'
    ] * 3
    assert sender.describe(exchanges[0])[-1] == "! decision path outcome.action missing"


def oauth_target(url: str, client_auth: str = "basic") -> HttpTarget:
    return target_from(url, headers={}, auth={
        "type": "bearer", "token_url": f"{url}/token", "scope": "fraud/assess",
        "client_id": "stresslab", "client_secret": "${env:PARTNER_CLIENT_SECRET}",
        "client_auth": client_auth,
    })


async def test_oauth2_tokens_expire_mid_run_and_no_request_fails(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client_secret = f"cs_{random_secrets.token_hex(16)}"
    monkeypatch.setenv("PARTNER_CLIENT_SECRET", client_secret)
    settings = PartnerSettings(client_id="stresslab", client_secret=client_secret,
                               token_lifetime=1.5)
    with serve_partner(settings) as partner:
        target = oauth_target(partner.base_url)
        async with open_sender(target, environment_secrets()) as sender:
            exchanges: list[Exchange] = []
            source = transactions(10_000)
            started = time.monotonic()
            while time.monotonic() - started < 3.0:  # two refreshes at 75 % of 1.5 s, ~50 req/s
                exchanges += await asyncio.gather(*(sender.send(next(source)) for _ in range(5)))
                await asyncio.sleep(0.1)
        assert_reconciled(exchanges, partner.ledger.answered)
        assert partner.ledger.tokens_issued >= 3
        assert partner.ledger.expired_tokens_presented == 0 and partner.ledger.refused == 0
    text = outputs(sender, exchanges, caplog.text)
    assert "Authorization: Bearer ***" in text
    assert client_secret not in text


@pytest.mark.parametrize("client_auth", ["basic", "body"])
async def test_oauth2_client_authentication_in_header_or_body(
    monkeypatch: pytest.MonkeyPatch, client_auth: str,
) -> None:
    client_secret = f"cs_{random_secrets.token_hex(16)}"
    monkeypatch.setenv("PARTNER_CLIENT_SECRET", client_secret)
    settings = PartnerSettings(client_id="stresslab", client_secret=client_secret,
                               client_auth=client_auth)
    with serve_partner(settings) as partner:
        target = oauth_target(partner.base_url, client_auth=client_auth)
        async with open_sender(target, environment_secrets()) as sender:
            exchanges = await send_all(sender, 10, concurrency=5)
        assert_reconciled(exchanges, partner.ledger.answered)
        assert partner.ledger.tokens_issued == 1


async def test_a_refused_client_secret_is_one_line_and_never_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PARTNER_CLIENT_SECRET", "wrong-client-secret")
    settings = PartnerSettings(client_id="stresslab", client_secret="the-right-one")
    with serve_partner(settings) as partner:
        async with open_sender(oauth_target(partner.base_url), environment_secrets()) as sender:
            with pytest.raises(AuthError) as caught:
                await sender.send(next(transactions(1)))
        assert str(caught.value) == "target.auth.token_url: the token endpoint answered 401"
        assert partner.ledger.answered == {} and partner.ledger.refused == 0


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


def mtls_target(url: str, certs: Certificates, **changes: Any) -> HttpTarget:
    data: dict[str, Any] = {
        **issue_target(url), "url": f"{url}/api/v2/assess", "headers": {},
        "auth": {"type": "mtls", "cert_file": certs.client_cert, "key_file": certs.client_key},
        "ca_file": certs.ca, **changes,
    }
    target = parse_target({k: v for k, v in data.items() if v is not None})
    assert isinstance(target, HttpTarget)
    return target


async def test_mtls_with_our_client_certificate(certs: Certificates) -> None:
    tls = (certs.server_cert, certs.server_key, certs.ca)
    with serve_partner(PartnerSettings(), tls=tls) as partner:
        async with open_sender(mtls_target(partner.base_url, certs), Secrets(
            environment_resolver({}))) as sender:
            exchanges = await send_all(sender, 100, concurrency=8)
        assert_reconciled(exchanges, partner.ledger.answered)


@pytest.mark.parametrize("case", ["no client cert", "a stranger's cert", "server not trusted"])
async def test_mtls_refused_handshakes_are_tls_errors(certs: Certificates, case: str) -> None:
    changes: dict[str, Any] = {
        "no client cert": {"auth": None},
        "a stranger's cert": {"auth": {"type": "mtls", "cert_file": certs.stranger_cert,
                                       "key_file": certs.stranger_key}},
        "server not trusted": {"ca_file": None},
    }[case]
    tls = (certs.server_cert, certs.server_key, certs.ca)
    with serve_partner(PartnerSettings(), tls=tls) as partner:
        target = mtls_target(partner.base_url, certs, **changes)
        async with open_sender(target, Secrets(environment_resolver({}))) as sender:
            exchange = await sender.send(next(transactions(1)))
        assert exchange.outcome in {"tls", "connect"}
        assert partner.ledger.answered == {}
    if case == "server not trusted":
        assert exchange.outcome == "tls"
        assert sender.describe(exchange)[-1] == "! TLS handshake failed (certificate or CA)"


def test_an_unreadable_client_key_is_named(certs: Certificates, tmp_path: Path) -> None:
    target = mtls_target("https://127.0.0.1:1", certs, auth={
        "type": "mtls", "cert_file": certs.client_cert, "key_file": str(tmp_path / "gone.key")})

    async def open_it() -> None:
        async with open_sender(target, Secrets(environment_resolver({}))):
            pass

    with pytest.raises(TargetConfigError) as caught:
        asyncio.run(open_it())
    assert str(caught.value) == (
        f"target.auth.key_file: cannot read {tmp_path / 'gone.key'}: No such file or directory"
    )


def test_refusal_limit_is_configurable() -> None:
    assert AuthRefusals(2).limit == 2
