"""The HTTP target client against small real servers on loopback: every outcome classified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

import pytest

from stresslab.ports import Outcome
from stresslab.scenario.spec import HttpSettings
from stresslab.targets.http import HttpTarget, TargetUnreachable, check_reachable
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(60)

Responder = Callable[[int], bytes | None]


def response(status: int, body: bytes = b'{"decision": "block"}', close: bool = False,
             chunked: bool = False) -> bytes:
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    if close:
        head += "Connection: close\r\n"
    if chunked:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:]))
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class RawServer:
    """Reads whole requests and answers each with responder(n); None means hang; b"" closes."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests = 0
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                await reader.readexactly(length)
                self.requests += 1
                answer = self.responder(self.requests)
                if answer is None:
                    await asyncio.sleep(30)
                if not answer:
                    writer.close()
                    return
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Responder], Awaitable[RawServer]]]:
    servers: list[asyncio.Server] = []

    async def start(responder: Responder) -> RawServer:
        raw = RawServer(responder)
        port = free_port()
        servers.append(await asyncio.start_server(raw.handle, "127.0.0.1", port))
        raw.url = f"http://127.0.0.1:{port}/v1/score"
        return raw

    yield start
    for server in servers:
        server.close()


@pytest.fixture(params=["send", "submitter"], autouse=True)
def path(request: pytest.FixtureRequest) -> str:
    """Every test runs over both ways to send: awaiting `send`, and the task-free `submitter`
    the worker uses for a plain POST (targets/http_lane.py)."""
    return str(request.param)


async def submitted(target: HttpTarget, payload: dict[str, object]) -> Outcome:
    submit = target.submitter
    assert submit is not None
    answer: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    submit(payload, answer.set_result)  # a second call would raise InvalidStateError
    assert not answer.done()  # never told from inside submit
    return await answer


async def send_many(url: str, n: int, path: str = "send", **settings: object) -> list[str]:
    async with HttpTarget(url, HttpSettings(**settings)) as target:
        one = target.send if path == "send" else partial(submitted, target)
        outcomes = await asyncio.gather(*(one({"amount": i}) for i in range(n)))
    return [o.kind for o in outcomes]


@pytest.mark.parametrize("status, kind", [
    (200, "ok"), (201, "ok"), (400, "http_4xx"), (404, "http_4xx"), (429, "http_429"),
    (500, "http_5xx"), (503, "http_5xx"),
])
async def test_statuses_are_classified(serve, path, status, kind):
    raw = await serve(lambda _: response(status))
    assert await send_many(raw.url, path=path, n=3) == [kind] * 3


async def test_answers_are_parsed_and_connections_reused(serve, path):
    raw = await serve(lambda _: response(200))
    async with HttpTarget(raw.url, HttpSettings(connections=2)) as target:
        one = target.send if path == "send" else partial(submitted, target)
        for _ in range(20):
            outcome = await one({"x": 1})
            assert outcome.kind == "ok" and outcome.body == {"decision": "block"}
    assert raw.requests == 20 and raw.connections == 1


async def test_the_pool_never_opens_more_than_its_limit(serve, path):
    raw = await serve(lambda _: response(200))
    kinds = await send_many(raw.url, path=path, n=200, connections=4)
    assert kinds == ["ok"] * 200
    assert raw.connections <= 4


async def test_connection_close_and_chunked_answers(serve, path):
    raw = await serve(lambda n: response(200, close=n % 2 == 0, chunked=n % 3 == 0))
    kinds = await send_many(raw.url, path=path, n=30, connections=3)
    assert kinds == ["ok"] * 30


async def test_an_answer_in_many_pieces_is_read_whole(serve, path):
    # Given answers whose bodies come in many chunks, and in several TCP segments
    body = b'{"decision": "block", "agents": {"a": {"ms": 12}}, "pad": "' + b"x" * 3000 + b'"}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                      for i in range(0, len(body), 7))
    raw = await serve(lambda _: b"HTTP/1.1 200 X\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + chunks + b"0\r\n\r\n")
    async with HttpTarget(raw.url, HttpSettings(connections=1)) as target:
        one = target.send if path == "send" else partial(submitted, target)
        outcomes = [await one({"x": 1}) for _ in range(3)]
    # Then each is the whole body, parsed
    assert [o.kind for o in outcomes] == ["ok"] * 3
    assert all(o.body["pad"] == "x" * 3000 and o.body["agents"] for o in outcomes)


async def test_a_hanging_server_times_out(serve, path):
    raw = await serve(lambda _: None)
    assert await send_many(raw.url, path=path, n=3, timeout=0.3) == ["timeout"] * 3


async def test_a_dropped_connection_is_a_connect_error(serve, path):
    raw = await serve(lambda _: b"")
    assert await send_many(raw.url, path=path, n=3) == ["connect"] * 3


async def test_garbage_is_an_invalid_response(serve, path):
    raw = await serve(lambda n: b"NOT HTTP AT ALL\r\n\r\n" if n == 1
                        else response(200, body=b"not json"))
    kinds = await send_many(raw.url, path=path, n=2, connections=1)
    assert kinds == ["invalid_response", "invalid_response"]


async def test_nothing_listening_is_a_connect_error_and_unreachable(path):
    url = f"http://127.0.0.1:{free_port()}/v1/score"
    assert await send_many(url, path=path, n=2) == ["connect", "connect"]
    with pytest.raises(TargetUnreachable, match="is unreachable"):
        await check_reachable(url)
    with pytest.raises(TargetUnreachable, match="http"):
        await check_reachable("ftp://x")


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_answer_over_the_body_limit_is_oversized_and_the_connection_dropped(
    serve, path, chunked
):
    # Given a server answering 70 KiB of JSON on every second request, small answers otherwise
    big = b'{"decision": "block", "pad": "' + b"x" * 70_000 + b'"}'
    raw = await serve(lambda n: response(200, body=big if n % 2 == 0 else b'{"decision": "a"}',
                                         chunked=chunked))
    # When the client sends with the default 64 KiB limit over one connection
    kinds = await send_many(raw.url, path=path, n=6, connections=1)
    # Then each big answer is one `oversized` error and the small ones still parse
    assert sorted(kinds) == ["ok"] * 3 + ["oversized"] * 3
    assert raw.requests == 6


async def test_the_body_limit_is_configurable(serve, path):
    body = b'{"decision": "block", "pad": "' + b"x" * 3_000 + b'"}'
    raw = await serve(lambda _: response(200, body=body))
    assert await send_many(raw.url, path=path, n=2, max_body_bytes=2048) == ["oversized"] * 2
    assert await send_many(raw.url, path=path, n=2, max_body_bytes=4096) == ["ok"] * 2


async def test_endless_headers_are_oversized_not_buffered(serve, path):
    # Given a server that answers a status line then megabytes of headers
    pad = b"X-Pad: " + b"y" * 1000 + b"\r\n"
    raw = await serve(lambda _: b"HTTP/1.1 200 OK\r\n" + pad * 2000)
    assert await send_many(raw.url, path=path, n=1, timeout=5) == ["oversized"]


async def test_a_request_waiting_for_a_connection_times_out_undelivered(serve, path):
    # Given one connection, held by a request the server never answers
    raw = await serve(lambda _: None)
    async with HttpTarget(raw.url, HttpSettings(connections=1, timeout=0.3)) as target:
        one = target.send if path == "send" else partial(submitted, target)
        first, second = await asyncio.gather(one({"n": 1}), one({"n": 2}))
    # Then both time out; only the one that was written counts as delivered
    assert (first.kind, first.delivered) == ("timeout", True)
    assert (second.kind, second.delivered) == ("timeout", False)
    assert raw.requests == 1


async def test_after_a_timeout_the_next_request_gets_a_fresh_connection(serve, path):
    # Given a server that hangs on the first request only, and one connection
    raw = await serve(lambda n: None if n == 1 else response(200))
    async with HttpTarget(raw.url, HttpSettings(connections=1, timeout=0.3)) as target:
        one = target.send if path == "send" else partial(submitted, target)
        kinds = [(await one({"n": i})).kind for i in range(3)]
    # Then the timed-out connection is dropped and a new one carries the rest
    assert kinds == ["timeout", "ok", "ok"]
    assert raw.connections == 2


def test_a_signed_or_refusal_counted_target_has_no_task_free_path():
    from stresslab.targets.auth import AuthRefusals
    from stresslab.targets.http import RequestShape

    url = "http://127.0.0.1:9/v1/score"
    assert HttpTarget(url, HttpSettings()).submitter is not None
    shaped = HttpTarget(url, HttpSettings(), shape=RequestShape(refusals=AuthRefusals(3)))
    assert shaped.submitter is None


def test_the_body_limit_is_validated():
    from pydantic import ValidationError
    with pytest.raises(ValidationError, match="max_body_bytes"):
        HttpSettings(max_body_bytes=0)


async def test_only_the_requests_past_their_deadline_time_out(serve, path):
    # Given a server that never answers every third request and answers the rest at once
    raw = await serve(lambda n: None if n % 3 == 0 else response(200))
    # When 12 requests go over 12 connections with a 0.3 s timeout
    kinds = await send_many(raw.url, path=path, n=12, connections=12, timeout=0.3)
    # Then exactly the four unanswered ones time out, each once
    assert sorted(kinds) == ["ok"] * 8 + ["timeout"] * 4


async def test_a_hanging_request_does_not_keep_every_later_one_in_memory(serve, monkeypatch):
    # Given a lane that sweeps finished deadline entries past 16, and a first request that hangs
    from stresslab.targets import http_lane

    monkeypatch.setattr(http_lane, "COMPACT_AT", 16)
    raw = await serve(lambda n: None if n == 1 else response(200))
    async with HttpTarget(raw.url, HttpSettings(connections=2, timeout=5)) as target:
        submit = target.submitter
        assert submit is not None
        told: list[Outcome] = []
        submit({"n": 0}, told.append)  # written first, so it is the server's request 1
        kinds = [(await submitted(target, {"n": i})).kind for i in range(1, 200)]
        # Then the 199 answered ones are let go of while the first still waits
        assert kinds == ["ok"] * 199 and told == []
        assert len(target._lane._deadlines) <= 32


async def test_a_transport_that_refuses_the_write_fails_that_request_once(serve):
    # Given a kept-alive connection whose transport raises on write (closed under us)
    raw = await serve(lambda _: response(200))
    async with HttpTarget(raw.url, HttpSettings(connections=1)) as target:
        assert (await submitted(target, {"n": 0})).kind == "ok"
        (idle,) = target._pool._idle
        real = idle.transport

        class Closed:
            def write(self, data: bytes) -> None:
                raise RuntimeError("unable to perform operation: the handler is closed")

            def abort(self) -> None:
                real.abort()

        idle.transport = Closed()
        submit = target.submitter
        assert submit is not None
        told: list[Outcome] = []
        submit({"n": 1}, told.append)
        # Then that request is told once that it failed, and the next gets a fresh connection
        assert [o.kind for o in told] == ["other"]
        assert (await submitted(target, {"n": 2})).kind == "ok"
    assert raw.connections == 2
