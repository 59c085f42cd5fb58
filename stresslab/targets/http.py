"""HTTP target: POST each transaction as JSON over a pool of kept-alive connections.

A lean HTTP/1.1 client (asyncio protocols + the httptools parser) instead of a general one:
the generator's own cost per request decides how much load one process can offer.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson

from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.auth import (
    REFUSED_MESSAGE,
    AuthRefusals,
    RequestSigner,
    TokenRefused,
    host_header,
)
from stresslab.targets.http_lane import Answered, Exchange, Lane
from stresslab.targets.template import RenderBody

OUTCOME_OVERSIZED = "oversized"
MAX_HEAD_BYTES = 64 * 1024  # status line and headers, on top of the body limit


class TargetUnreachable(ConnectionError):
    """Nothing answers at the target's address."""


class ConnectionDropped(ConnectionError):
    """The server closed the connection before answering."""


class ResponseTooLarge(Exception):
    """The answer's body (or head) is larger than the scenario allows."""


def failure_outcome(error: Exception) -> Outcome:
    """What a request that failed on its connection counts as."""
    if isinstance(error, ResponseTooLarge):
        return Outcome(OUTCOME_OVERSIZED)
    if isinstance(error, ConnectionDropped | OSError):
        return Outcome("connect")
    if isinstance(error, ValueError):
        return Outcome("invalid_response")
    return Outcome("other")


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


class _Connection(asyncio.Protocol):
    """One kept-alive connection carrying one request at a time."""

    def __init__(self, max_body: int) -> None:
        self.transport: Any = None
        self.closed = False
        self.reusable = True
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.exchange: Exchange | None = None  # the task-free path's request on this connection
        self._status = 0
        self._body: bytes | bytearray = b""  # the one chunk most answers come in, as given
        self._max_body = max_body
        self._received = 0
        self._oversized = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport instances

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._received <= self._max_body + MAX_HEAD_BYTES:
            try:
                self._parser.feed_data(data)
            except httptools.HttpParserError:
                self._fail(ValueError("malformed HTTP response"))
                self.abort()
                return
            if not self._oversized:
                return
        # never buffered past the limit; the rest of the answer is not worth reading
        self._fail(ResponseTooLarge(f"answer larger than {self._max_body} bytes"))
        self.abort()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self.reusable = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        held = self._body
        if len(held) + len(body) > self._max_body:
            self._oversized = True
        elif self._oversized:
            return
        elif not held:
            self._body = body  # no copy for an answer in one chunk
        elif isinstance(held, bytearray):
            held += body
        else:
            self._body = bytearray(held) + body

    def on_message_complete(self) -> None:
        if self._oversized:
            return
        self._received = 0
        body = self._body
        if body.__class__ is not bytes:
            body = bytes(body)
        self._body = b""
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.answered(self._status, body)
        else:
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self._status, body))
        if not self.reusable:
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionDropped("connection closed before the answer"))

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.failed(error)

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self._waiter

    def abort(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()


class _Pool:
    """At most `limit` connections; a request waits for a free one rather than opening more."""

    def __init__(
        self, host: str, port: int, tls: ssl.SSLContext | None, limit: int, max_body: int
    ) -> None:
        self._host, self._port, self._tls, self._limit = host, port, tls, limit
        self._max_body = max_body
        self._idle: deque[_Connection] = deque()
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._open = 0

    def take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
            self._open -= 1
        return None

    def reserve(self) -> bool:
        """Claim a slot for a new connection, if the limit allows one."""
        if self._open >= self._limit:
            return False
        self._open += 1
        return True

    async def open_reserved(self) -> _Connection:
        """Connect on a slot `reserve` claimed; the slot is freed if connecting fails."""
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(self._max_body), self._host, self._port, ssl=self._tls,
                server_hostname=self._host if self._tls else None,
            )
        except BaseException:
            self._open -= 1
            self._wake(None)
            raise
        return connection

    async def acquire(self) -> _Connection:
        while True:
            while self._idle:
                connection = self._idle.pop()
                if not connection.closed:
                    return connection
                self._open -= 1
            if self.reserve():
                return await self.open_reserved()
            waiter: asyncio.Future[_Connection | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiters.append(waiter)
            try:
                handed = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._give_back(waiter.result())
                raise
            if handed is not None and not handed.closed:
                return handed

    def _give_back(self, handed: _Connection | None) -> None:
        """A connection (or a free slot) handed to a request that was cancelled meanwhile."""
        if handed is not None:
            self.release(handed)
        else:
            self._wake(None)

    def release(self, connection: _Connection) -> None:
        if connection.closed or not connection.reusable:
            connection.abort()
            self._open -= 1
            self._wake(None)
        elif not self._waiters or not self._wake(connection):
            self._idle.append(connection)

    def _wake(self, connection: _Connection | None) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()


@dataclass(frozen=True)
class RequestShape:
    """How a `target:` section shapes each request; the default is the old plain JSON POST.

    Everything here is prepared once per worker process: headers with their secrets resolved,
    the body template compiled, the TLS context loaded, the OAuth2 token shared.
    """

    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    render: RenderBody = orjson.dumps
    signer: RequestSigner | None = None
    tls: ssl.SSLContext | None = None
    success: frozenset[int] | None = None  # the statuses that count as an answer; 2xx if None
    timeout: float | None = None
    refusals: AuthRefusals | None = None
    on_refused: Callable[[str], None] = lambda line: None


def refused_line(status: int, url: str) -> str:
    """The one line a run ends with when the target keeps refusing our credentials."""
    return f"{REFUSED_MESSAGE} ({status} from {urlsplit(url).hostname})"


class HttpTarget:
    """A Target over kept-alive HTTP/1.1 connections with a per-request timeout."""

    def __init__(
        self, url: str, settings: HttpSettings, headers: Mapping[str, str] | None = None,
        shape: RequestShape | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetUnreachable(f"target must be an http(s) URL, got {url!r}")
        shape = shape or RequestShape()
        sent = {**shape.headers, **(headers or {})}
        if any(c in text for item in sent.items() for text in item for c in "\r\n"):
            raise ValueError("headers: a name or value holds a line break")
        extra = "".join(f"{name}: {value}\r\n" for name, value in sent.items())
        self.url = url
        self._shape = shape
        self._render = shape.render
        self._signer = shape.signer
        self._refusals = shape.refusals
        self._settled = asyncio.Event()
        self._refused_told = False
        self._refusing = (401, url)  # who said no last (status, URL): target or token endpoint
        self.on_refused = shape.on_refused  # the worker's hook, replaceable once it runs
        self._success = shape.success
        self._timeout = shape.timeout or settings.timeout
        tls = shape.tls
        if tls is None and parts.scheme == "https":
            tls = ssl.create_default_context()
        port = parts.port or (443 if tls else 80)
        self._pool = _Pool(
            parts.hostname, port, tls, settings.connections, settings.max_body_bytes
        )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        self._host = host_header(url)
        self._signed_headers = {
            "Host": self._host, "Content-Type": "application/json",
            "Accept": "application/json", **sent,
        }
        self._head = (
            f"{shape.method} {path} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/json\r\n"
            f"Accept: application/json\r\n{extra}Content-Length: "
        ).encode()
        self._fixed = self._head.removesuffix(b"Content-Length: ")
        self._lane = Lane(self._pool, self._head, self._render, self._timeout, self._judge,
                          failure_outcome)

    @property
    def submitter(self) -> Callable[[Mapping[str, Any], Answered], None] | None:
        """The task-free way to send (http_lane), when nothing but a connection can hold a
        request back: no signer, no refusal accounting. A worker uses it or `send`, not both."""
        if self._signer is not None or self._refusals is not None:
            return None
        return self._lane.submit

    async def __aenter__(self) -> HttpTarget:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._lane.close()
        self._pool.close()

    async def _signed_request(self, payload: Mapping[str, Any]) -> bytes:
        assert self._signer is not None
        body = self._render(payload)
        signed = await self._signer.headers_for(
            self._shape.method, self.url, self._signed_headers, body
        )
        extra = "".join(f"{name}: {value}\r\n" for name, value in signed.items()).encode()
        return b"%s%sContent-Length: %d\r\n\r\n%s" % (self._fixed, extra, len(body), body)

    async def send(self, payload: dict[str, Any]) -> Outcome:
        refusals = self._refusals
        if refusals is None:
            return (await self._send(payload))[0]
        while not refusals.may_send():
            if refusals.should_abort:
                return Outcome("http_4xx", delivered=False)
            await self._settled.wait()
        counted = refusals.admit()
        status: int | None = None
        try:
            outcome, status = await self._send(payload)
        finally:
            if refusals.settle(counted, status) and not self._refused_told:
                self._refused_told = True
                self.on_refused(refused_line(*self._refusing))
            settled, self._settled = self._settled, asyncio.Event()
            settled.set()  # wakes the requests waiting to learn whether the credentials work
        return outcome

    async def _send(self, payload: Mapping[str, Any]) -> tuple[Outcome, int | None]:
        """The outcome, and the answer's status when one came."""
        connection: _Connection | None = None
        try:
            data: bytes | None = None  # unsigned: rendered once a connection is free, so
            # requests piled up waiting for one hold their payload only (bench/worker_pileup.py)
            if self._signer is not None:
                try:
                    data = await self._signed_request(payload)
                except TokenRefused as refused:  # no token: this request is never sent
                    self._refusing = (refused.status, refused.url)
                    return Outcome("http_4xx", delivered=False), 401  # counted as a refusal
            async with asyncio.timeout(self._timeout):
                connection = await self._pool.acquire()
                if data is None:  # no coroutine per request where none is needed
                    body = self._render(payload)
                    data = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
                status, answer = await connection.request(data)
        except TimeoutError:
            if connection is not None:
                connection.abort()
            return Outcome(OUTCOME_TIMEOUT, delivered=connection is not None), None
        except ResponseTooLarge:
            return Outcome(OUTCOME_OVERSIZED), None
        except (ConnectionDropped, OSError):
            return Outcome("connect", delivered=connection is not None), None
        except ValueError:
            return Outcome("invalid_response"), None
        finally:
            if connection is not None:
                self._pool.release(connection)
        if status in (401, 403):
            self._refusing = (status, self.url)
        return self._judge(status, answer), status

    def _judge(self, status: int, answer: bytes) -> Outcome:
        success = self._success
        if success is None:
            if not 200 <= status < 300:
                return Outcome(classify_status(status))
        elif status not in success:
            kind = classify_status(status)  # a 2xx the scenario does not count as an answer:
            return Outcome("other" if kind == OUTCOME_OK else kind)
        try:
            return Outcome(OUTCOME_OK, orjson.loads(answer))
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
