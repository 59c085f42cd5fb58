"""HTTP target: POST each transaction as JSON over reused connections, classify what comes back."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome
from stresslab.spec import HttpSettings

_HEADERS = {"Content-Type": "application/json"}


class TargetUnreachable(ConnectionError):
    """Nothing answers at the target's address."""


def classify_status(status: int) -> str:
    if 200 <= status < 300:
        return OUTCOME_OK
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500:
        return "http_5xx"
    return "other"


class HttpTarget:
    """A Target over aiohttp with a bounded connection pool and a per-request timeout."""

    def __init__(self, url: str, settings: HttpSettings) -> None:
        self.url = url
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpTarget:
        connector = aiohttp.TCPConnector(
            limit=self._settings.connections, ttl_dns_cache=300, enable_cleanup_closed=True
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
            skip_auto_headers=("User-Agent",),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, payload: dict[str, Any]) -> Outcome:
        assert self._session is not None, "use HttpTarget as an async context manager"
        data = orjson.dumps(payload)
        try:
            async with self._session.post(self.url, data=data, headers=_HEADERS) as response:
                body = await response.read()
                kind = classify_status(response.status)
        except TimeoutError:
            return Outcome(OUTCOME_TIMEOUT)
        except (aiohttp.ClientConnectionError, OSError):
            return Outcome("connect")
        except aiohttp.ClientError:
            return Outcome("other")
        if kind != OUTCOME_OK:
            return Outcome(kind)
        try:
            return Outcome(OUTCOME_OK, orjson.loads(body))
        except orjson.JSONDecodeError:
            return Outcome("invalid_response")


async def check_reachable(url: str, timeout: float = 3.0) -> None:
    """Open a TCP connection to the URL's host and port; TargetUnreachable if nothing listens."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetUnreachable(f"target must be an http(s) URL, got {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port), timeout=timeout
        )
    except (OSError, TimeoutError) as error:
        reason = getattr(error, "strerror", None) or type(error).__name__
        raise TargetUnreachable(f"target {url} is unreachable: {reason}") from None
    writer.close()
    await writer.wait_closed()
