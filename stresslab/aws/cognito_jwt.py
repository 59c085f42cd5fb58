"""Cognito JWT checks for WebSocket $connect (API Gateway WebSockets have no JWT authoriser).

PyJWT does the parsing and the signature; PyJWKClient fetches the pool's JWKS, caches it and
refetches for an unknown `kid` at most once per cooldown, so tokens with made-up key ids cannot
turn every connection attempt into a request to Cognito.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from stresslab.runs import OPERATORS_GROUP

JWKS_LIFESPAN_S = 3600.0
UNKNOWN_KID_COOLDOWN_S = 60.0
JWKS_TIMEOUT_S = 5.0
LEEWAY_S = 30.0


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


def pool_issuer(user_pool_id: str) -> str:
    region = user_pool_id.split("_", 1)[0]
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoJwtVerifier:
    """RS256 Cognito id or access tokens: signature from the pool's JWKS, issuer, client
    (`aud` of id tokens, `client_id` of access tokens), token_use, expiry."""

    def __init__(
        self, user_pool_id: str, client_id: str, jwks_url: str | None = None,
        unknown_kid_cooldown_s: float = UNKNOWN_KID_COOLDOWN_S,
    ) -> None:
        self.issuer = pool_issuer(user_pool_id)
        self._client_id = client_id
        self._keys = jwt.PyJWKClient(
            jwks_url or f"{self.issuer}/.well-known/jwks.json", cache_jwk_set=True,
            lifespan=JWKS_LIFESPAN_S, timeout=JWKS_TIMEOUT_S,
            cooldown_duration=unknown_kid_cooldown_s,
        )

    def verify(self, token: str) -> VerifiedToken:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=self.issuer, leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "sub", "token_use"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("token issued by another user pool") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature does not verify") from None
        except jwt.PyJWKClientConnectionError:
            raise InvalidToken("token cannot be checked: the pool's keys are unreachable") \
                from None
        except jwt.PyJWKClientError as error:
            raise InvalidToken(f"token signed by an unknown key: {error}") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"token is not a valid JWT: {error}") from None
        self._check_client(claims)
        return VerifiedToken(
            subject=str(claims["sub"]),
            username=str(claims.get("cognito:username") or claims.get("username") or ""),
            groups=frozenset(groups_claim(claims.get("cognito:groups"))), claims=claims,
        )

    def _check_client(self, claims: dict[str, Any]) -> None:
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        if use not in ("id", "access") or audience != self._client_id:
            raise InvalidToken("token is for another client")


def groups_claim(raw: Any) -> list[str]:
    """The `cognito:groups` claim: a JSON list in the token itself; API Gateway HTTP API JWT
    authorisers hand list claims to the integration as one string, "[admins operators]".
    Group names hold no whitespace but may hold commas, so only whitespace separates them."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return [str(group) for group in raw]
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return text.split()
    raise InvalidToken("cognito:groups is neither a list nor a string")
