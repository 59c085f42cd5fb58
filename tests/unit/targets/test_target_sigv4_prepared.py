"""The prepared SigV4 signer gives exactly the headers botocore's SigV4Auth gives, for any body,
path, query, header set, session token or none, across days and credential rotations."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from stresslab.targets.auth import SigV4Signer
from stresslab.targets.config import SigV4Auth
from stresslab.targets.sigv4 import PreparedSigV4Signer

AUTH = SigV4Auth(type="sigv4", service="execute-api", region="eu-west-2")
MOMENT = datetime.datetime(2026, 12, 3, 23, 59, 59)


class Moving:
    """One clock for both signers: botocore's get_current_datetime and the prepared one's now."""

    def __init__(self, at: datetime.datetime) -> None:
        self.at = at

    def datetime(self) -> datetime.datetime:
        return self.at

    def epoch(self) -> float:
        return self.at.replace(tzinfo=datetime.UTC).timestamp()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Moving]:
    moving = Moving(MOMENT)
    monkeypatch.setattr("botocore.auth.get_current_datetime", moving.datetime)
    yield moving


def both(credentials: Any, clock: Moving) -> tuple[SigV4Signer, PreparedSigV4Signer]:
    return SigV4Signer(AUTH, credentials), PreparedSigV4Signer(AUTH, credentials, now=clock.epoch)


HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/api/v2/assess",
    "https://abc.execute-api.eu-west-2.amazonaws.com/prod/score?b=2&a=1&code=x%20y",
    "https://example.com/a%20b/c~d/../e?flag&z=%2F",
    "https://[::1]:8443/",
])
@pytest.mark.parametrize("token", [None, "session/token+=="])
def test_the_same_headers_as_botocore(clock: Moving, url: str, token: str | None) -> None:
    reference, prepared = both(Credentials("AKIDEXAMPLE", "secret/key+", token), clock)
    headers = {**HEADERS, "X-Api-Version": "  2   beta ", "x-amzn-trace-id": "skip"}
    for body in (b"", b'{"txn_ref":"t-1"}', "é€".encode()):
        assert prepared.sign("POST", url, headers, body) == \
            reference.sign("POST", url, headers, body)


def test_across_midnight_and_a_rotation(clock: Moving) -> None:
    credentials = Credentials("AKID1", "first-secret", "token-1")
    reference, prepared = both(credentials, clock)
    url = "https://example.com/score"
    assert prepared.sign("POST", url, HEADERS, b"1") == reference.sign("POST", url, HEADERS, b"1")
    clock.at = MOMENT + datetime.timedelta(seconds=2)  # the next day: a new signing key
    credentials.secret_key, credentials.token = "second-secret", "token-2"
    assert prepared.sign("PUT", url, HEADERS, b"2") == reference.sign("PUT", url, HEADERS, b"2")


def test_the_secret_key_and_token_are_given_for_masking_once_per_rotation(clock: Moving) -> None:
    seen: list[str] = []
    credentials = Credentials("AKID1", "first-secret", "token-1")
    prepared = PreparedSigV4Signer(AUTH, credentials, on_secret=seen.append, now=clock.epoch)
    for _ in range(3):
        prepared.sign("POST", "https://example.com/", HEADERS, b"x")
    credentials.secret_key, credentials.token = "second-secret", "token-2"
    prepared.sign("POST", "https://example.com/", HEADERS, b"x")
    assert seen == ["first-secret", "token-1", "second-secret", "token-2"]


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=200),
       path=st.lists(st.text("abcXYZ019-_.~ %/é", min_size=1, max_size=8), max_size=3),
       query=st.dictionaries(st.text("abc_-", min_size=1, max_size=4),
                             st.text("xyz 0+/=", max_size=5), max_size=3))
def test_any_body_path_and_query(body: bytes, path: list[str], query: dict[str, str]) -> None:
    from urllib.parse import quote, urlencode

    moving = Moving(MOMENT)
    url = "https://example.com/" + "/".join(quote(part) for part in path)
    if query:
        url += "?" + urlencode(query)
    credentials = Credentials("AKID", "secret", None)
    import botocore.auth

    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = moving.datetime  # type: ignore[assignment]
    try:
        reference, prepared = both(credentials, moving)
        assert prepared.sign("POST", url, HEADERS, body) == \
            reference.sign("POST", url, HEADERS, body)
    finally:
        botocore.auth.get_current_datetime = original  # type: ignore[assignment]
