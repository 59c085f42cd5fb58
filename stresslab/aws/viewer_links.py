"""Viewer links: short-lived, read-only presentation tokens (HS256 JWTs from PyJWT) signed with
a key kept in Secrets Manager; tokens signed with the previous key stay valid until they expire,
so rotating the secret does not cut a presentation short."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jwt
from botocore.exceptions import ClientError

from stresslab.aws.cognito_jwt import InvalidToken
from stresslab.aws.errors import error_code
from stresslab.control import ViewerLink  # the control contract's answer to POST /viewer-links

ISSUER = "stresslab"
AUDIENCE = "stresslab-viewer"
SCOPE = "viewer"
ALGORITHM = "HS256"
KEY_CACHE_S = 300.0
REFRESH_COOLDOWN_S = 30.0


class SigningKeys(Protocol):
    def current(self) -> bytes: ...

    def accepted(self, refresh: bool = False) -> list[bytes]: ...


class SecretsManagerKeys:
    """The signing key is the secret's AWSCURRENT version; AWSPREVIOUS is still accepted.
    Read at most once per cache period, or sooner (after a cooldown) when a signature fails.

    Not Powertools' SecretsProvider: its cache key is the secret's name alone (the two stages
    would share one entry), it wraps the ResourceNotFound of a secret without AWSPREVIOUS in a
    bare GetParameterError, and its expiry reads the wall clock (no fake clock in tests)."""

    def __init__(
        self, client: Any, secret_id: str, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._secret_id, self._clock = client, secret_id, clock
        self._keys: list[bytes] = []
        self._read_at = float("-inf")

    def current(self) -> bytes:
        return self.accepted()[0]

    def accepted(self, refresh: bool = False) -> list[bytes]:
        age = self._clock() - self._read_at
        if not self._keys or age > KEY_CACHE_S or (refresh and age > REFRESH_COOLDOWN_S):
            keys = [self._read("AWSCURRENT")]
            previous = self._read("AWSPREVIOUS", missing_ok=True)
            if previous is not None and previous != keys[0]:
                keys.append(previous)
            self._keys, self._read_at = keys, self._clock()
        return self._keys

    def _read(self, stage: str, missing_ok: bool = False) -> Any:
        try:
            value = self._client.get_secret_value(SecretId=self._secret_id, VersionStage=stage)
        except ClientError as error:
            if missing_ok and error_code(error) == "ResourceNotFoundException":
                return None
            raise
        return str(value["SecretString"]).encode()


def mint_viewer_link(
    presentation_url: str, keys: SigningKeys, ttl_s: int, now: float,
) -> ViewerLink:
    """A link to the presentation page carrying a token that lets its holder watch, nothing else."""
    expires_at = int(now) + ttl_s
    token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "scope": SCOPE, "iat": int(now), "exp": expires_at,
         "jti": secrets.token_urlsafe(12)},
        keys.current(), algorithm=ALGORITHM,
    )
    return ViewerLink(url=_with_token(presentation_url, token), expires_at=expires_at)


def verify_viewer_token(token: str, keys: SigningKeys) -> dict[str, Any]:
    """The token's claims, or InvalidToken for a forged, expired, malformed or foreign token."""
    error: jwt.PyJWTError | None = None
    for refresh in (False, True):
        for key in keys.accepted(refresh=refresh):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                    options={"require": ["exp", "iat", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError as bad_signature:
                error = bad_signature
                continue
            except jwt.ExpiredSignatureError:
                raise InvalidToken("viewer link has expired") from None
            except jwt.PyJWTError as invalid:
                raise InvalidToken(f"viewer token is not valid: {invalid}") from None
            if claims.get("scope") != SCOPE:
                raise InvalidToken("viewer token has the wrong scope")
            return claims
    raise InvalidToken(f"viewer token signature does not verify ({error})")


def _with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"] + [("token", token)]
    return urlunsplit(parts._replace(query=urlencode(query)))


KEY_LENGTH = 64


def rotate_signing_key(client: Any, secret_id: str, version: str, step: str) -> None:
    """One step of Secrets Manager's rotation protocol for a key that lives only in the secret:
    createSecret stages a new random key as AWSPENDING, finishSecret makes it AWSCURRENT (the
    old one becomes AWSPREVIOUS, still accepted until its links expire); setSecret and
    testSecret have nothing outside the secret to update or test."""
    stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages", {})
    if version not in stages:
        raise ValueError(f"rotation: version {version} is not a version of the secret")
    if "AWSCURRENT" in stages[version]:
        return  # already current: a repeated invocation
    if "AWSPENDING" not in stages[version]:
        raise ValueError(f"rotation: version {version} is not pending")
    if step == "createSecret" and _pending_key(client, secret_id, version) is None:
        key = client.get_random_password(PasswordLength=KEY_LENGTH, ExcludePunctuation=True)
        client.put_secret_value(SecretId=secret_id, ClientRequestToken=version,
                                SecretString=key["RandomPassword"], VersionStages=["AWSPENDING"])
    elif step == "testSecret" and len(_pending_key(client, secret_id, version) or "") < KEY_LENGTH:
        raise ValueError(f"rotation: the pending key is not a {KEY_LENGTH}-character key")
    elif step == "finishSecret":
        current = [v for v, labels in stages.items() if "AWSCURRENT" in labels]
        client.update_secret_version_stage(
            SecretId=secret_id, VersionStage="AWSCURRENT", MoveToVersionId=version,
            **({"RemoveFromVersionId": current[0]} if current else {}))
        # Secrets Manager drops the label itself once the rotation ends; doing it here keeps a
        # rotation that ran only partly from blocking the next one.
        client.update_secret_version_stage(SecretId=secret_id, VersionStage="AWSPENDING",
                                           RemoveFromVersionId=version)


def _pending_key(client: Any, secret_id: str, version: str) -> str | None:
    try:
        value = client.get_secret_value(SecretId=secret_id, VersionId=version,
                                        VersionStage="AWSPENDING")
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return value.get("SecretString")
