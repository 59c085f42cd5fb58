"""Target auth: API key, bearer (static or OAuth2 client credentials), SigV4, mTLS."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from stresslab.ports import Clock
from stresslab.targets.config import (
    ApiKeyAuth,
    BearerAuth,
    HttpTarget,
    MtlsAuth,
    SigV4Auth,
    TargetConfigError,
)
from stresslab.targets.secrets import SecretError, Secrets

REFUSED_MESSAGE = "the target refuses our credentials"
DEFAULT_REFUSAL_LIMIT = 5
REFUSED_STATUSES = (400, 401, 403)  # a token endpoint's no to our client credentials
DEFAULT_TOKEN_LIFETIME = 300.0  # when the token endpoint does not say (expires_in)
REFRESH_RETRY_S = 1.0
EXPIRY_MARGIN_S = 5.0  # a token this close to its end is not sent (at most 10 % of its life)


class AuthError(RuntimeError):
    """Authentication that cannot work (no token, no credentials). The message is one line."""


class TokenRefused(AuthError):
    """The token endpoint refused our client credentials: counted as a refusal by the sender."""

    def __init__(self, status: int, url: str) -> None:
        super().__init__(f"target.auth.token_url: the token endpoint answered {status}")
        self.status = status
        self.url = url


class RequestSigner(Protocol):
    """Headers to add to one request, computed from the request itself or a fresh token."""

    async def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]: ...


def host_header(url: str) -> str:
    """The Host header a sender puts on a request to this URL (and a signer signs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return host if parts.port is None else f"{host}:{parts.port}"


def static_headers(target: HttpTarget, secrets: Secrets) -> dict[str, str]:
    """The target's headers and any fixed credential header, secrets resolved."""
    headers = dict(target.headers)
    auth = target.auth
    if isinstance(auth, ApiKeyAuth):
        headers[auth.header] = auth.value
    elif isinstance(auth, BearerAuth) and auth.token is not None:
        headers["Authorization"] = f"Bearer {auth.token}"
    resolved = {name: secrets.resolve(value) for name, value in headers.items()}
    for name, value in resolved.items():
        if any(c in value for c in "\r\n\x00"):
            raise SecretError(f"{name}: the secret's value holds a line break")
        if not value.isascii():
            raise SecretError(f"{name}: the value is not ASCII text")
    return resolved


# -- OAuth2 client credentials --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    expires_in: float | None = None


TokenFetcher = Callable[[], Awaitable[TokenGrant]]


class ClientCredentialsToken:
    """One access token shared by a worker's requests, fetched once and refreshed before expiry.

    A refresh starts at 75 % of the token's life (at most a minute before it ends); requests
    meanwhile keep the current token, so a token that expires mid-run fails no request.
    In its last 10 % (at most 5 s) a token is not sent: it could expire on the way, and a few
    such refusals in a row would stop the run. Only when no usable token is left do requests
    wait for the token endpoint.
    """

    def __init__(
        self, fetch: TokenFetcher, clock: Clock,
        on_token: Callable[[str], None] = lambda token: None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._on_token = on_token
        self._header: str | None = None
        self._usable_until = 0.0
        self._refresh_at = 0.0
        self._refreshing: asyncio.Task[str] | None = None
        self._failed: tuple[float, BaseException] | None = None  # (until, why): no token at all
        self.fetches = 0

    async def authorization(self) -> str:
        now = self._clock.now()
        if self._header is not None and now < self._refresh_at:
            return self._header
        if self._failed is not None and now < self._failed[0] and (
            self._header is None or now >= self._usable_until
        ):
            raise self._failed[1].with_traceback(None)  # not asked again for every request
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh())
            self._refreshing.add_done_callback(self._refreshed)
        if self._header is not None and now < self._usable_until:
            return self._header
        return await asyncio.shield(self._refreshing)

    def _refreshed(self, task: asyncio.Task[str]) -> None:
        self._refreshing = None
        error = None if task.cancelled() else task.exception()
        if error is None:
            self._failed = None
            return
        retry_at = self._clock.now() + REFRESH_RETRY_S
        self._failed = (retry_at, error)
        if self._header is not None:
            # keep the current token; try again a little later while it is still valid
            self._refresh_at = min(self._usable_until, retry_at)

    async def _refresh(self) -> str:
        self.fetches += 1
        asked_at = self._clock.now()  # the token's life may have started before we hear of it
        grant = await self._fetch()
        self._on_token(grant.access_token)
        lifetime = grant.expires_in if grant.expires_in else DEFAULT_TOKEN_LIFETIME
        now = asked_at
        self._header = f"Bearer {grant.access_token}"
        self._usable_until = now + lifetime - min(EXPIRY_MARGIN_S, lifetime * 0.1)
        self._refresh_at = now + lifetime - min(60.0, lifetime * 0.25)
        return self._header

    async def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]:
        return {"Authorization": await self.authorization()}


def aiohttp_token_fetcher(
    session: Any, auth: BearerAuth, secrets: Secrets, timeout: float = 10.0
) -> TokenFetcher:
    """The client-credentials grant over an aiohttp ClientSession (RFC 6749 section 4.4)."""
    import aiohttp

    assert auth.token_url is not None and auth.client_id is not None
    assert auth.client_secret is not None
    client_id = secrets.resolve(auth.client_id)
    client_secret = secrets.resolve(auth.client_secret)
    form = {"grant_type": "client_credentials"}
    if auth.scope:
        form["scope"] = auth.scope
    headers = {"Accept": "application/json"}
    if auth.client_auth == "basic":
        headers["Authorization"] = aiohttp.encode_basic_auth(client_id, client_secret)
        secrets.add_derived(headers["Authorization"].removeprefix("Basic "))
    else:
        form |= {"client_id": client_id, "client_secret": client_secret}
    url = auth.token_url

    async def fetch() -> TokenGrant:
        try:
            async with session.post(
                url, data=form, headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as answer:
                status = answer.status
                payload = await answer.json(content_type=None) if status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise AuthError(
                f"target.auth.token_url: no token from {url}: {type(error).__name__}"
            ) from None
        if status in REFUSED_STATUSES:  # RFC 6749 5.2: invalid_client is 401 (or 400)
            raise TokenRefused(status, url)
        if status != 200:
            raise AuthError(f"target.auth.token_url: the token endpoint answered {status}")
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise AuthError("target.auth.token_url: the token endpoint gave no access_token")
        token = payload["access_token"]
        expires_in = payload.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
            return TokenGrant(token)
        return TokenGrant(token, float(expires_in) if expires_in > 0 else None)

    return fetch


# -- SigV4 --------------------------------------------------------------------------------


class _NoSigningDetails(logging.Filter):
    """botocore.auth logs the canonical request at DEBUG, session token included: never let out."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_SIGNING_LOG_FILTER = _NoSigningDetails()


class SigV4Signer:
    """Signs each request with botocore's SigV4Auth (body hash included and sent)."""

    def __init__(
        self, auth: SigV4Auth, credentials: Any,
        on_secret: Callable[[str], None] = lambda value: None,
    ) -> None:
        if credentials is None:
            raise AuthError("target.auth: sigv4 found no AWS credentials in the default chain")
        self._credentials = credentials
        self._on_secret = on_secret
        signing_log = logging.getLogger("botocore.auth")
        if _SIGNING_LOG_FILTER not in signing_log.filters:
            signing_log.addFilter(_SIGNING_LOG_FILTER)
        self._masked: tuple[str, str | None] | None = None
        self._service = auth.service
        self._region = auth.region

    def sign(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        from botocore.auth import SigV4Auth as BotocoreSigV4
        from botocore.awsrequest import AWSRequest

        frozen = self._credentials.get_frozen_credentials()
        if self._masked != (frozen.secret_key, frozen.token):  # new on every rotation
            self._masked = (frozen.secret_key, frozen.token)
            self._on_secret(frozen.secret_key)
            if frozen.token:
                self._on_secret(frozen.token)
        request = AWSRequest(
            method=method, url=url, data=body,
            headers={
                **headers, "Host": host_header(url),
                "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
            },
        )
        BotocoreSigV4(frozen, self._service, self._region).add_auth(request)
        wanted = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")
        return {name: request.headers[name] for name in wanted if name in request.headers}

    async def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]:
        return self.sign(method, url, headers, body)


def default_aws_credentials() -> Any:
    """Credentials from the default chain (environment, profile, container, instance role)."""
    import botocore.session

    return botocore.session.get_session().get_credentials()


# -- TLS ------------------------------------------------------------------------------------


def tls_context(target: HttpTarget) -> ssl.SSLContext | None:
    """TLS for an https target (verification on unless verify: false); None for plain http."""
    if urlsplit(target.url).scheme != "https":
        return None
    context = ssl.create_default_context()
    if target.ca_file is not None:
        _readable(target.ca_file, "target.ca_file")
        try:
            context.load_verify_locations(cafile=target.ca_file)
        except ssl.SSLError as error:
            raise TargetConfigError(
                f"target.ca_file: {target.ca_file} holds no CA certificate ({_why(error)})"
            ) from None
    if not target.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    auth = target.auth
    if isinstance(auth, MtlsAuth):
        _readable(auth.cert_file, "target.auth.cert_file")
        _readable(auth.key_file, "target.auth.key_file")
        try:
            context.load_cert_chain(auth.cert_file, auth.key_file)
        except ssl.SSLError as error:
            raise TargetConfigError(
                f"target.auth: {auth.cert_file} and {auth.key_file} are not a certificate "
                f"and its key ({_why(error)})"
            ) from None
    return context


def _why(error: ssl.SSLError) -> str:
    if error.reason:
        return str(error.reason)
    detail = str(error.args[1]) if len(error.args) > 1 else str(error)
    return detail.split(" (_ssl.c", 1)[0]  # e.g. "[SSL] PEM lib": OpenSSL found no PEM data


def _readable(path: str, field: str) -> None:
    try:
        with open(path, "rb") as file:
            file.read(1)
    except OSError as error:
        raise TargetConfigError(f"{field}: cannot read {path}: {error.strerror}") from None


# -- refusals -------------------------------------------------------------------------------


class AuthRefusals:
    """Counts consecutive 401/403 answers; after `limit` of them the run must stop.

    Until one answer shows the credentials work, at most `limit` requests are let out in all
    (refused + still unanswered), so a wrong key never sends more than `limit` requests
    however many are in flight.
    """

    def __init__(self, limit: int = DEFAULT_REFUSAL_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"the refusal limit must be at least 1, got {limit}")
        self.limit = limit
        self.consecutive = 0
        self.confirmed = False
        self._unconfirmed = 0  # let out before any answer confirmed the credentials

    def may_send(self) -> bool:
        return not self.should_abort and (
            self.confirmed or self.consecutive + self._unconfirmed < self.limit
        )

    def admit(self) -> bool:
        """A request goes out; True when it counts against the limit (nothing confirmed yet)."""
        if self.confirmed:
            return False
        self._unconfirmed += 1
        return True

    def settle(self, counted: bool, status: int | None) -> bool:
        """An admitted request ended (status None: no answer); True when the run must abort."""
        if counted:
            self._unconfirmed -= 1
        return self.should_abort if status is None else self.observe(status)

    def observe(self, status: int) -> bool:
        """Record an answer's status; True when the run must abort."""
        if status in (401, 403):
            self.consecutive += 1
        else:
            self.consecutive = 0
            self.confirmed = True
        return self.should_abort

    @property
    def should_abort(self) -> bool:
        return self.consecutive >= self.limit
