"""Cognito JWT checks for WebSocket $connect (API Gateway WebSockets have no JWT authoriser)."""

from __future__ import annotations

import base64
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWKS_TTL_S = 3600.0
LEEWAY_S = 30.0
OPERATORS_GROUP = "operators"


class InvalidToken(ValueError):
    """The token is malformed, forged, expired or meant for someone else."""


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    username: str
    groups: frozenset[str]
    claims: dict[str, Any]

    @property
    def is_operator(self) -> bool:
        return OPERATORS_GROUP in self.groups


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _int(segment: str) -> int:
    return int.from_bytes(_b64(segment), "big")


def fetch_jwks(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - fixed https URL
        data: dict[str, Any] = json.loads(response.read())
        return data


class CognitoJwtVerifier:
    """RS256 Cognito id or access tokens: signature from the pool's JWKS, issuer, client, expiry."""

    def __init__(
        self, user_pool_id: str, client_id: str,
        jwks_fetcher: Callable[[str], dict[str, Any]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        region = user_pool_id.split("_", 1)[0]
        self.issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
        self._client_id = client_id
        self._fetch = jwks_fetcher
        self._clock = clock
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at = float("-inf")

    def _key(self, kid: str) -> rsa.RSAPublicKey:
        stale = self._clock() - self._fetched_at > JWKS_TTL_S
        if kid not in self._keys or stale:
            jwks = (self._fetch or fetch_jwks)(f"{self.issuer}/.well-known/jwks.json")
            self._keys = {
                str(k["kid"]): rsa.RSAPublicNumbers(_int(k["e"]), _int(k["n"])).public_key()
                for k in jwks.get("keys", []) if k.get("kty") == "RSA"
            }
            self._fetched_at = self._clock()
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token signed by an unknown key")
        return key

    def verify(self, token: str) -> VerifiedToken:
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = json.loads(_b64(header_b64))
            claims = json.loads(_b64(payload_b64))
            signature = _b64(signature_b64)
        except (ValueError, TypeError):
            raise InvalidToken("token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise InvalidToken("token must be signed with RS256")
        try:
            self._key(str(header.get("kid"))).verify(
                signature, f"{header_b64}.{payload_b64}".encode(), padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise InvalidToken("token signature does not verify") from None
        self._check_claims(claims)
        groups = claims.get("cognito:groups") or []
        return VerifiedToken(
            subject=str(claims.get("sub", "")),
            username=str(claims.get("cognito:username") or claims.get("username") or ""),
            groups=frozenset(str(g) for g in groups), claims=claims,
        )

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        if claims.get("iss") != self.issuer:
            raise InvalidToken("token issued by another user pool")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + LEEWAY_S < now:
            raise InvalidToken("token has expired")
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if use not in ("id", "access") or audience != self._client_id:
            raise InvalidToken("token is for another client")
