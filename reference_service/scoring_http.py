"""The scoring face's HTTP/1.1 server: an asyncio protocol over the httptools parser.

Why not aiohttp here (issue 13): at thousands of requests a second, aiohttp's request,
router, response and writer objects cost about as much CPU as scoring itself. This server
knows three routes and one body type, and does only what HTTP/1.1 asks of it: keep-alive
(and Connection: close, HTTP/1.0), Content-Length or chunked bodies, Expect: 100-continue,
pipelined requests answered in order, and a 400 naming the problem for a malformed request.
The admin API stays on aiohttp, on its own port and thread (service.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import httptools

from reference_service import scoring
from reference_service.scoring import Reply, TargetState, json_reply

SCORE_PATH = b"/v1/score"
ROUTES: dict[bytes, bytes] = {SCORE_PATH: b"POST", b"/v1/stats": b"GET", b"/health": b"GET"}
MAX_PIPELINED = 32  # requests read ahead of the one being answered, before reading pauses
BACKLOG = 2048
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_log = logging.getLogger(__name__)


def _head(status: int, length: int, keep_alive: bool, extra: bytes = b"") -> bytes:
    reason = _REASONS.get(status, b"Unknown")
    connection = b"" if keep_alive else b"Connection: close\r\n"
    return (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"%s%s\r\n" % (status, reason, length, connection, extra))


class Request:
    """One parsed request, waiting its turn on its connection."""

    __slots__ = ("method", "url", "body", "too_large", "keep_alive")

    def __init__(self, method: bytes, url: bytes, body: bytes, too_large: bool,
                 keep_alive: bool) -> None:
        self.method, self.url, self.body = method, url, body
        self.too_large, self.keep_alive = too_large, keep_alive


class ScoringProtocol(asyncio.Protocol):
    """One client connection: requests are parsed as they come and answered one at a time,
    in the order they came."""

    def __init__(self, server: ScoringServer) -> None:
        self._server = server
        self._state = server.state
        self._max_body = server.state.config.max_body_bytes
        self._parser = httptools.HttpRequestParser(self)
        self._transport: Any = None  # uvloop's transports are not asyncio.Transport instances
        self._url = b""
        self._body: list[bytes] = []
        self._size = 0
        self._too_large = False
        self._expects_continue = False
        self._receiving = False  # a /v1/score body is on its way
        self._waiting: deque[Request] = deque()
        self._answering: asyncio.Task[None] | None = None
        self._paused = False  # reading, while too many requests wait
        self._blocked = False  # answering, while the client does not read its answers
        self._closed = False

    # -- the transport's calls ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        if self._receiving:  # its headers came, its body never did: counted as dropped
            self._receiving = False
            scoring.lost(self._state)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse("request: protocol upgrades are not served here")
        except httptools.HttpParserError as malformed:
            problem = str(malformed) or type(malformed).__name__
            self._refuse(f"request: malformed HTTP: {problem}")

    # -- the parser's calls ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._body, self._size = b"", [], 0
        self._too_large = self._expects_continue = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length":
            with contextlib.suppress(ValueError):
                self._too_large = int(value) > self._max_body
        elif lowered == b"expect" and value.lower() == b"100-continue":
            self._expects_continue = True

    def on_headers_complete(self) -> None:
        self._receiving = (self._url.partition(b"?")[0] == SCORE_PATH
                           and self._parser.get_method() == b"POST")
        # a body that would be refused anyway is not invited
        if self._expects_continue and not self._too_large and not self._closed:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._max_body:
            self._too_large = True
        if not self._too_large:
            self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        self._waiting.append(Request(
            parser.get_method(), self._url, b"".join(self._body), self._too_large,
            parser.should_keep_alive()))
        self._size = 0
        self._body = []
        self._receiving = False
        self._answer_next()

    def pause_writing(self) -> None:
        self._blocked = True

    def resume_writing(self) -> None:
        self._blocked = False
        self._answer_next()

    # -- answering ------------------------------------------------------------------------

    def _answer_next(self) -> None:
        """Start on the oldest waiting request unless one is being answered or the client's
        unread answers fill the buffer; read on only while few requests wait."""
        if self._closed:
            return
        if self._answering is None and not self._blocked and self._waiting:
            request = self._waiting.popleft()
            self._answering = asyncio.get_running_loop().create_task(self._answer(request))
            self._server.answering.add(self._answering)
        waiting = len(self._waiting)
        if not self._paused and waiting >= MAX_PIPELINED:
            self._paused = True
            self._transport.pause_reading()
        elif self._paused and waiting < MAX_PIPELINED // 2:
            self._paused = False
            self._transport.resume_reading()

    async def _answer(self, request: Request) -> None:
        try:
            reply = await self._reply(request)
        except Exception:
            _log.exception("answering %s %r", request.method.decode(), request.url[:200])
            reply = json_reply(500, {"error": "internal error of the reference service"})
        finally:
            task, self._answering = self._answering, None
            if task is not None:
                self._server.answering.discard(task)
        if reply.drop:
            self._close()
            return
        self._send(reply, request.keep_alive, request.method == b"HEAD")
        if request.keep_alive:
            self._answer_next()
        else:
            self._close()

    async def _reply(self, request: Request) -> Reply:
        path, _, query = request.url.partition(b"?")
        wanted = ROUTES.get(path)
        method = request.method
        if wanted is None:
            return json_reply(404, {"error": f"path: no route {path[:100].decode(errors='replace')}"
                                             " on the scoring port"})
        if method != wanted and not (method == b"HEAD" and wanted == b"GET"):
            return Reply(405, _not_allowed(method, wanted))
        state = self._state
        if path == SCORE_PATH:
            if request.too_large:
                return scoring.too_large(state)
            return await scoring.score(state, request.body)
        if path == b"/health":
            return scoring.health(state)
        return await scoring.stats(state, request.url.decode(errors="replace"),
                                   _query_value(query, "run_id"))

    def _send(self, reply: Reply, keep_alive: bool, head_only: bool = False) -> None:
        if self._closed:
            return  # the client left; its request was counted all the same
        extra = b"Allow: GET, HEAD\r\n" if reply.status == 405 else b""
        head = _head(reply.status, len(reply.body), keep_alive, extra)
        self._transport.write(head if head_only else head + reply.body)

    def _refuse(self, error: str) -> None:
        """A request that cannot be parsed: a 400 saying why, then the connection ends (the
        parser cannot find the next request's start)."""
        if not self._closed:
            reply = json_reply(400, {"error": error[:200]})
            self._transport.write(_head(400, len(reply.body), False) + reply.body)
        self._waiting.clear()
        self._close()

    def _close(self) -> None:
        self._waiting.clear()
        if not self._closed:
            self._closed = True
            self._transport.close()

    def close(self) -> None:
        """The server stops: the connection ends now."""
        self._waiting.clear()
        self._closed = True
        if self._transport is not None:
            self._transport.abort()


def _not_allowed(method: bytes, wanted: bytes) -> bytes:
    allowed = "GET, HEAD" if wanted == b"GET" else wanted.decode()
    return json_reply(405, {"error": f"method: {method[:20].decode(errors='replace')} not "
                                     f"allowed here; use {allowed}"}).body


def _query_value(query: bytes, name: str) -> str | None:
    for key, value in parse_qsl(query.decode(errors="replace"), keep_blank_values=True):
        if key == name:
            return value
    return None


class ScoringServer:
    """The scoring face on one or more listening sockets, in the running event loop."""

    def __init__(self, state: TargetState) -> None:
        self.state = state
        self.connections: set[ScoringProtocol] = set()
        self.answering: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.Server] = []

    @property
    def port(self) -> int:
        return int(self._servers[0].sockets[0].getsockname()[1])

    async def listen(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_server(
            lambda: ScoringProtocol(self), host, port, backlog=BACKLOG, reuse_address=True))

    async def serve_on(self, sockets: Iterable[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        for sock in sockets:
            self._servers.append(await loop.create_server(
                lambda: ScoringProtocol(self), sock=sock, backlog=BACKLOG))

    async def stop(self) -> None:
        """Stop listening, end every connection, give up answers in progress, and close the
        sessions to the other processes."""
        for server in self._servers:
            server.close()
        for connection in list(self.connections):
            connection.close()
        for task in list(self.answering):
            task.cancel()
        if self.answering:
            await asyncio.gather(*self.answering, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 5.0)
        await scoring.close(self.state)
