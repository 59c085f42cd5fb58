"""Cognito JWT checks (PyJWT) against a JWKS served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from stresslab.aws.cognito_jwt import CognitoJwtVerifier, InvalidToken, groups_claim, pool_issuer

POOL = "eu-west-1_Pool"
CLIENT = "app-client"
ISSUER = pool_issuer(POOL)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pool_jwks() -> str:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    return json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]})


class JwksServer:
    """Serves a JWKS document at any path of 127.0.0.1:<port> and counts the fetches."""

    def __init__(self, body: str, pool: str = POOL) -> None:
        self.body = body
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.fetches += 1
                payload = server.body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}/{pool}/.well-known/jwks.json"

    @contextlib.contextmanager
    def serving(self) -> Iterator[JwksServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(5)


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with JwksServer(pool_jwks()).serving() as server:
        yield server


def verifier(server: JwksServer) -> CognitoJwtVerifier:
    return CognitoJwtVerifier(POOL, CLIENT, jwks_url=server.url)


def token(key: Any = KEY, kid: str = "k1", **overrides: Any) -> str:
    claims = {"sub": "u1", "iss": ISSUER, "aud": CLIENT, "token_use": "id",
              "exp": int(time.time()) + 600, "iat": int(time.time()),
              "cognito:username": "ana", "cognito:groups": ["operators"], **overrides}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_id_and_access_tokens_of_the_pool_and_client_pass(jwks: JwksServer) -> None:
    checker = verifier(jwks)

    operator = checker.verify(token())
    access = checker.verify(token(aud=None, token_use="access", client_id=CLIENT, username="ben",
                                  **{"cognito:groups": None, "cognito:username": None}))

    assert operator.is_operator and operator.username == "ana"
    assert not access.is_operator and access.username == "ben"
    assert jwks.fetches == 1  # the JWKS is cached


@pytest.mark.parametrize(("forged", "reason"), [
    (lambda: token(key=OTHER_KEY), "signature does not verify"),
    (lambda: token(exp=int(time.time()) - 3600), "expired"),
    (lambda: token(aud="someone-else"), "another client"),
    (lambda: token(aud=None, token_use="access", client_id="someone-else"), "another client"),
    (lambda: token(token_use="refresh"), "another client"),
    (lambda: token(iss=pool_issuer("eu-west-1_Other")), "another user pool"),
    (lambda: token(token_use=None), "not a valid JWT"),
    (lambda: jwt.encode({"sub": "u1", "iss": ISSUER, "aud": CLIENT, "token_use": "id",
                         "exp": int(time.time()) + 600}, "secret-" * 8, algorithm="HS256",
                        headers={"kid": "k1"}), "not a valid JWT"),
])
def test_forged_expired_and_foreign_tokens_are_refused(
    jwks: JwksServer, forged: Any, reason: str
) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verifier(jwks).verify(forged())


@pytest.mark.parametrize("malformed", [
    "", "abc", "a.b", "a.b.c", "...", "e30.e30.",  # {}.{}.
    b64(b"[1, 2]") + "." + b64(b'{"sub": "u1"}') + ".c2ln",  # header is a JSON list
    b64(b'{"alg": "RS256", "kid": 5}') + "." + b64(b"{}") + ".c2ln",  # kid not a string
    b64(b'{"alg": "RS256", "kid": "k1"}') + "." + b64(b"[]") + ".c2ln",  # claims a list
    b64(b'{"alg": "RS256", "kid": "k1"}') + "." + b64(b"\xff\xfe") + ".c2ln",  # not UTF-8
    b64(b'{"alg": "RS256"}') + "." + b64(b"{}") + ".c2ln",  # no kid
    "\u00e9t\u00e9.\u00e9t\u00e9.x",
])
def test_every_malformed_token_is_refused_as_invalid(jwks: JwksServer, malformed: str) -> None:
    with pytest.raises(InvalidToken):
        verifier(jwks).verify(malformed)


def test_unknown_key_ids_do_not_refetch_the_jwks_for_every_token(jwks: JwksServer) -> None:
    # Given a verifier that has fetched the pool's keys once
    checker = verifier(jwks)
    checker.verify(token())
    assert jwks.fetches == 1

    # When a hundred tokens name key ids the pool does not have
    for n in range(100):
        with pytest.raises(InvalidToken, match="unknown key"):
            checker.verify(token(kid=f"made-up-{n}"))

    # Then the JWKS was not fetched again inside the cooldown, and real tokens still pass
    assert jwks.fetches == 1
    assert checker.verify(token()).is_operator


def test_an_unreachable_jwks_refuses_the_token() -> None:
    checker = CognitoJwtVerifier(POOL, CLIENT, jwks_url="http://127.0.0.1:9/jwks.json")
    with pytest.raises(InvalidToken, match="unreachable"):
        checker.verify(token())


@pytest.mark.parametrize(("raw", "groups"), [
    ("[operators viewers]", ["operators", "viewers"]),  # HTTP API JWT authoriser's form
    ("[viewers,operators]", ["viewers,operators"]),  # one group whose name holds a comma
    ("[]", []),
    (["operators"], ["operators"]),
    (None, []),
])
def test_groups_claim_is_parsed_as_a_list(raw: Any, groups: list[str]) -> None:
    assert groups_claim(raw) == groups
