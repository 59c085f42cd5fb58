"""Auth: static headers, a shared OAuth2 token (fake clock), SigV4 headers, TLS, refusals."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from pathlib import Path

import pytest
from botocore.credentials import Credentials

from stresslab.targets.auth import (
    REFUSED_MESSAGE,
    AuthError,
    AuthRefusals,
    ClientCredentialsToken,
    SigV4Signer,
    TokenGrant,
    host_header,
    static_headers,
    tls_context,
)
from stresslab.targets.config import HttpTarget, SigV4Auth, TargetConfigError
from stresslab.targets.secrets import SecretError, Secrets, environment_resolver
from stresslab.targets.section import parse_target
from tests.fakes import FakeClock


def http(**fields: object) -> HttpTarget:
    target = parse_target({"url": "https://fraud.example.com/v2/assess", **fields})
    assert isinstance(target, HttpTarget)
    return target


def test_api_key_and_headers_resolved_and_remembered_for_masking() -> None:
    secrets = Secrets(environment_resolver({"KEY": "k-123", "TENANT": "acme"}))
    target = http(headers={"X-Tenant": "${env:TENANT}"},
                  auth={"type": "api_key", "header": "X-Partner-Key", "value": "${env:KEY}"})
    assert static_headers(target, secrets) == {"X-Tenant": "acme", "X-Partner-Key": "k-123"}
    assert secrets.masker.mask("k-123 acme") == "*** ***"


def test_static_bearer() -> None:
    secrets = Secrets(environment_resolver({"TOKEN": "tok"}))
    target = http(auth={"type": "bearer", "token": "${env:TOKEN}"})
    assert static_headers(target, secrets) == {"Authorization": "Bearer tok"}


async def settle() -> None:
    """Let a background refresh run to its end (a few loop turns; no time passes)."""
    for _ in range(5):
        await asyncio.sleep(0)


class TokenEndpoint:
    """Issues numbered tokens; can be made to fail or to wait."""

    def __init__(self, lifetime: float | None = 60.0) -> None:
        self.lifetime = lifetime
        self.issued = 0
        self.failing = False
        self.gate: asyncio.Event | None = None

    async def fetch(self) -> TokenGrant:
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise AuthError("target.auth.token_url: the token endpoint answered 503")
        self.issued += 1
        return TokenGrant(f"token-{self.issued}", self.lifetime)


async def test_one_token_is_shared_by_concurrent_requests() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    endpoint.gate = asyncio.Event()
    token = ClientCredentialsToken(endpoint.fetch, clock)
    waiting = [asyncio.ensure_future(token.authorization()) for _ in range(50)]
    await settle()
    endpoint.gate.set()
    assert set(await asyncio.gather(*waiting)) == {"Bearer token-1"}
    assert endpoint.issued == 1


async def test_refreshed_before_expiry_and_no_request_waits_for_it() -> None:
    endpoint, clock = TokenEndpoint(lifetime=60.0), FakeClock()
    seen: list[str] = []
    token = ClientCredentialsToken(endpoint.fetch, clock, on_token=seen.append)
    assert await token.authorization() == "Bearer token-1"
    clock.advance(44.9)
    assert await token.authorization() == "Bearer token-1"
    assert endpoint.issued == 1
    endpoint.gate = asyncio.Event()  # the token endpoint is slow now
    clock.advance(0.2)  # 45.1 s: 75 % of its life, refresh starts in the background
    assert await token.authorization() == "Bearer token-1"
    endpoint.gate.set()
    await settle()
    assert await token.authorization() == "Bearer token-2"
    assert seen == ["token-1", "token-2"]
    clock.advance(54.0)  # well past the first token's end: the second is still good
    assert await token.authorization() == "Bearer token-2"


async def test_a_token_in_its_last_tenth_is_not_sent_requests_wait_for_the_next() -> None:
    # it could expire on the way; five such refusals in a row would stop the run
    endpoint, clock = TokenEndpoint(lifetime=20.0), FakeClock()
    token = ClientCredentialsToken(endpoint.fetch, clock)
    assert await token.authorization() == "Bearer token-1"
    endpoint.gate = asyncio.Event()  # the token endpoint is slow
    clock.advance(17.9)  # refresh under way; 2.1 s left, the token still goes out
    assert await token.authorization() == "Bearer token-1"
    clock.advance(0.2)  # 1.9 s left: inside the last 10 %
    waiting = asyncio.ensure_future(token.authorization())
    await settle()
    assert not waiting.done()
    endpoint.gate.set()
    assert await waiting == "Bearer token-2"


async def test_a_failed_refresh_keeps_the_valid_token_and_retries() -> None:
    endpoint, clock = TokenEndpoint(lifetime=60.0), FakeClock()
    token = ClientCredentialsToken(endpoint.fetch, clock)
    await token.authorization()
    endpoint.failing = True
    clock.advance(50)
    assert await token.authorization() == "Bearer token-1"
    await settle()
    assert await token.authorization() == "Bearer token-1"
    assert token.fetches == 2  # the retry waits a second
    endpoint.failing = False
    clock.advance(1.0)
    await token.authorization()
    await settle()
    assert await token.authorization() == "Bearer token-2"


async def test_without_any_valid_token_requests_get_the_endpoints_error() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    endpoint.failing = True
    token = ClientCredentialsToken(endpoint.fetch, clock)
    with pytest.raises(AuthError, match="^target.auth.token_url: the token endpoint answered 503$"):
        await token.authorization()


async def test_a_token_without_expires_in_lives_five_minutes() -> None:
    endpoint, clock = TokenEndpoint(lifetime=None), FakeClock()
    token = ClientCredentialsToken(endpoint.fetch, clock)
    await token.authorization()
    clock.advance(239)
    await token.authorization()
    assert endpoint.issued == 1
    clock.advance(2)
    await token.authorization()
    await settle()
    assert endpoint.issued == 2


CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-tok")


def test_sigv4_headers_carry_the_body_hash_and_the_session_token() -> None:
    signer = SigV4Signer(SigV4Auth(type="sigv4", service="execute-api", region="eu-west-1"),
                         CREDENTIALS)
    body = b'{"txn_ref": "r/0/1"}'
    url = "https://abc.execute-api.eu-west-1.amazonaws.com/prod/assess"
    headers = signer.sign("POST", url, {"Content-Type": "application/json"}, body)
    assert set(headers) == {"Authorization", "X-Amz-Date", "X-Amz-Security-Token",
                            "X-Amz-Content-SHA256"}
    assert headers["X-Amz-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert headers["X-Amz-Security-Token"] == "session-tok"
    authorization = headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;" in authorization
    other = signer.sign("POST", url, {"Content-Type": "application/json"}, body + b" ")
    assert other["Authorization"] != authorization


def test_sigv4_without_credentials() -> None:
    with pytest.raises(AuthError) as caught:
        SigV4Signer(SigV4Auth(type="sigv4", service="lambda", region="us-east-1"), None)
    assert str(caught.value) == "target.auth: sigv4 found no AWS credentials in the default chain"


def test_host_header_as_sent() -> None:
    assert host_header("http://127.0.0.1:9000/x") == "127.0.0.1:9000"
    assert host_header("https://api.example.com/x") == "api.example.com"
    assert host_header("http://[::1]:81/") == "[::1]:81"


def test_tls_only_for_https_and_verification_on_by_default() -> None:
    assert tls_context(parse_target({"url": "http://127.0.0.1:1/x"})) is None
    context = tls_context(http())
    assert context is not None and context.check_hostname


def test_verify_false_turns_verification_off() -> None:
    context = tls_context(http(verify=False))
    assert context is not None and not context.check_hostname


@pytest.mark.parametrize(("field", "message"), [
    ("cert_file", "target.auth.cert_file: cannot read {missing}: No such file or directory"),
    ("key_file", "target.auth.key_file: cannot read {missing}: No such file or directory"),
])
def test_unreadable_client_cert_or_key(tmp_path: Path, field: str, message: str) -> None:
    present = tmp_path / "present.pem"
    present.write_text("-----BEGIN CERTIFICATE-----\n")
    missing = tmp_path / "missing.pem"
    files = {"cert_file": str(present), "key_file": str(present), field: str(missing)}
    with pytest.raises(TargetConfigError) as caught:
        tls_context(http(auth={"type": "mtls", **files}))
    assert str(caught.value) == message.format(missing=missing)


def test_a_client_cert_that_is_no_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TargetConfigError) as caught:
        tls_context(http(auth={"type": "mtls", "cert_file": str(junk), "key_file": str(junk)}))
    assert str(caught.value) == (
        f"target.auth: {junk} and {junk} are not a certificate and its key ([SSL] PEM lib)"
    )


def test_ca_file_unreadable_or_not_a_ca(tmp_path: Path) -> None:
    with pytest.raises(TargetConfigError) as caught:
        tls_context(http(ca_file=str(tmp_path / "ca.pem")))
    assert str(caught.value) == (
        f"target.ca_file: cannot read {tmp_path / 'ca.pem'}: No such file or directory"
    )
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(TargetConfigError) as caught:
        tls_context(http(ca_file=str(junk)))
    assert str(caught.value).startswith(f"target.ca_file: {junk} holds no CA certificate (")


def test_refusals_abort_after_n_consecutive_and_reset_on_an_answer() -> None:
    refusals = AuthRefusals(limit=3)
    assert [refusals.observe(s) for s in (401, 403, 200, 401, 401)] == [False] * 5
    assert refusals.observe(403) is True
    assert refusals.should_abort
    assert REFUSED_MESSAGE == "the target refuses our credentials"
    assert AuthRefusals().limit == 5
    with pytest.raises(ValueError, match="^the refusal limit must be at least 1, got 0$"):
        AuthRefusals(0)


def test_sigv4_hands_the_session_token_and_secret_key_to_the_masker() -> None:
    secrets = Secrets(environment_resolver({}))
    signer = SigV4Signer(SigV4Auth(type="sigv4", service="execute-api", region="eu-west-1"),
                         CREDENTIALS, on_secret=secrets.add_derived)
    headers = signer.sign("POST", "https://x.example.com/a", {}, b"{}")
    shown = secrets.masker.mask(f"X-Amz-Security-Token: {headers['X-Amz-Security-Token']}")
    assert shown == "X-Amz-Security-Token: ***"
    assert secrets.masker.mask(CREDENTIALS.secret_key) == "***"


def test_botocores_debug_log_of_the_canonical_request_is_kept_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    signer = SigV4Signer(SigV4Auth(type="sigv4", service="execute-api", region="eu-west-1"),
                         CREDENTIALS)
    signer.sign("POST", "https://x.example.com/a", {}, b"{}")
    assert "session-tok" not in caplog.text


def test_unconfirmed_credentials_let_out_at_most_the_limit() -> None:
    refusals = AuthRefusals(limit=3)
    counted = [refusals.admit() for _ in range(3)]
    assert counted == [True] * 3 and not refusals.may_send()
    assert refusals.settle(True, None) is False  # a timeout: one more may go
    assert refusals.may_send()
    refusals.admit()
    assert refusals.settle(True, 403) is False and not refusals.may_send()
    assert refusals.settle(True, 401) is False
    assert refusals.settle(True, 403) is True
    assert not refusals.may_send()


def test_once_an_answer_confirms_the_credentials_nothing_is_held_back() -> None:
    refusals = AuthRefusals(limit=2)
    refusals.admit()
    refusals.settle(True, 200)
    assert refusals.confirmed and refusals.admit() is False
    assert all(refusals.may_send() for _ in range(10))
    refusals.observe(403)
    assert refusals.observe(401) is True and not refusals.may_send()


async def test_a_tokens_life_counts_from_when_it_was_asked_for() -> None:
    # expires_in starts when the endpoint answers; a slow answer must not stretch the token
    clock = FakeClock()

    async def slow_fetch() -> TokenGrant:
        clock.advance(10.0)
        return TokenGrant(f"token-{clock.now()}", 60.0)

    token = ClientCredentialsToken(slow_fetch, clock)
    first = await token.authorization()
    clock.advance(36.0)  # 46 s after asking: past 75 % of its life
    assert await token.authorization() == first
    await settle()
    assert await token.authorization() != first


async def test_a_failing_token_endpoint_is_asked_at_most_once_a_second() -> None:
    endpoint, clock = TokenEndpoint(), FakeClock()
    endpoint.failing = True
    token = ClientCredentialsToken(endpoint.fetch, clock)
    for _ in range(20):
        with pytest.raises(AuthError):
            await token.authorization()
        await settle()
    assert token.fetches == 1
    clock.advance(1.0)
    endpoint.failing = False
    assert await token.authorization() == "Bearer token-1"
    assert token.fetches == 2


@pytest.mark.parametrize("auth", [None, {"type": "api_key", "value": "${env:KEY}"}])
def test_a_secret_with_a_line_break_never_reaches_a_header(auth: dict[str, str] | None) -> None:
    secrets = Secrets(environment_resolver({"KEY": "k-1\r\nX-Injected: yes"}))
    target = http(**({"auth": auth} if auth else {"headers": {"X-Api-Key": "${env:KEY}"}}))
    with pytest.raises(SecretError) as caught:
        static_headers(target, secrets)
    assert str(caught.value) == "X-Api-Key: the secret's value holds a line break"


def test_a_header_value_must_be_ascii_once_resolved() -> None:
    # HTTP/1.1 servers read header bytes as Latin-1: a UTF-8 key would arrive as another key
    secrets = Secrets(environment_resolver({"KEY": "clé"}))
    with pytest.raises(SecretError) as caught:
        static_headers(http(headers={"X-Api-Key": "${env:KEY}"}), secrets)
    assert str(caught.value) == "X-Api-Key: the value is not ASCII text"
