"""The scoring face's own HTTP/1.1 server, over raw sockets on 127.0.0.1: what it answers, how
it keeps or ends connections, and that it decides exactly as the aiohttp path did."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reference_service.config import AgentConfig
from reference_service.service import RunningTarget, TargetConfig, start_target
from tests.integration.data.record_reference_answers import FAST, SEED, timeless
from tests.integration.test_target_service import transaction

GOLDEN = Path(__file__).parent / "data" / "reference_answers.jsonl.gz"


@pytest.fixture
async def target() -> AsyncIterator[RunningTarget]:
    running = await start_target(config=TargetConfig(seed=3, max_body_bytes=4096,
                                                     agent_defaults=FAST))
    yield running
    await running.stop()


class Connection:
    """One client connection, written and read byte for byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def to(cls, target: RunningTarget) -> Connection:
        host, port = target.url.removeprefix("http://").rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        status_line, *lines = head.decode().split("\r\n")[:-2]
        headers = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
        length = int(headers["content-length"])
        body = await asyncio.wait_for(self.reader.readexactly(length), 10) if length else b""
        return int(status_line.split()[1]), headers, body

    async def closed(self) -> bool:
        """True if the server ended the connection (nothing more comes)."""
        return await asyncio.wait_for(self.reader.read(1), 10) == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def score_request(body: bytes, *, version: str = "1.1", extra: str = "") -> bytes:
    return (f"POST /v1/score HTTP/{version}\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            ).encode() + body


def txn_body(transaction_id: str) -> bytes:
    return json.dumps(transaction(transaction_id)).encode()


async def stats(target: RunningTarget, run_id: str) -> dict[str, Any]:
    connection = await Connection.to(target)
    await connection.send(f"GET /v1/stats?run_id={run_id} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, _, body = await connection.answer()
    await connection.close()
    assert status == 200
    return dict(json.loads(body))


async def test_decisions_are_those_of_the_aiohttp_path_answer_for_answer() -> None:
    # Given the 600 transactions and answers recorded with the aiohttp path (same seed)
    rows = [json.loads(line) for line in gzip.open(GOLDEN, "rt")]
    running = await start_target(config=TargetConfig(seed=SEED, agent_defaults=FAST))
    try:
        connection = await Connection.to(running)
        # When they are sent in the same order, on one kept-alive connection
        answers = []
        for row in rows:
            await connection.send(score_request(json.dumps(row["payload"]).encode()))
            status, _, body = await connection.answer()
            answers.append((status, timeless(json.loads(body))))
        await connection.close()
    finally:
        await running.stop()
    # Then every answer is the same, field for field (timings aside)
    assert [status for status, _ in answers] == [row["status"] for row in rows]
    mismatched = [n for n, (row, (_, answer)) in enumerate(zip(rows, answers, strict=True))
                  if answer != row["answer"]]
    assert mismatched == []
    assert {answer["decision"] for _, answer in answers} == {"approve", "review", "block"}


async def test_one_connection_carries_many_requests_and_ends_when_asked(
    target: RunningTarget,
) -> None:
    connection = await Connection.to(target)
    for seq in range(5):
        await connection.send(score_request(txn_body(f"keep/0/{seq}")))
        status, headers, body = await connection.answer()
        assert status == 200 and json.loads(body)["transaction_id"] == f"keep/0/{seq}"
        assert headers["content-type"] == "application/json"
        assert "connection" not in headers
    await connection.send(score_request(txn_body("keep/0/5"), extra="Connection: close\r\n"))
    status, headers, _ = await connection.answer()
    assert status == 200 and headers["connection"] == "close"
    assert await connection.closed()
    assert (await stats(target, "keep"))["responses"] == {"200": 6}


async def test_http_1_0_without_keep_alive_gets_one_answer_and_the_end(
    target: RunningTarget,
) -> None:
    connection = await Connection.to(target)
    await connection.send(score_request(txn_body("old/0/1"), version="1.0"))
    status, headers, _ = await connection.answer()
    assert status == 200 and headers["connection"] == "close"
    assert await connection.closed()


async def test_pipelined_requests_are_answered_in_order(target: RunningTarget) -> None:
    connection = await Connection.to(target)
    await connection.send(b"".join(score_request(txn_body(f"pipe/0/{seq}")) for seq in range(8))
                          + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    ids = [json.loads((await connection.answer())[2])["transaction_id"] for _ in range(8)]
    assert ids == [f"pipe/0/{seq}" for seq in range(8)]
    status, _, body = await connection.answer()
    assert status == 200 and json.loads(body)["status"] == "ok"
    await connection.close()


async def test_a_client_that_reads_late_gets_every_pipelined_answer_in_order(
    target: RunningTarget,
) -> None:
    # Given a client with a small receive buffer that sends 20,000 requests before reading
    host, port = target.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.setblocking(False)
    connection = Connection(*await asyncio.open_connection(sock=sock))
    requests = [f"GET /v1/stats?run_id=late{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                for n in range(20_000)]
    sending = asyncio.create_task(connection.send(b"".join(requests)))
    await asyncio.sleep(0.5)  # the service's answers pile up unread, and it stops reading
    # When it reads at last, then every answer comes, in order
    for n in range(20_000):
        status, _, body = await connection.answer()
        assert status == 200 and json.loads(body)["run_id"] == f"late{n}"
    await sending
    await connection.close()


async def test_a_chunked_body_is_read_whole(target: RunningTarget) -> None:
    body = txn_body("chunk/0/1")
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:50], body[50:]))
    connection = await Connection.to(target)
    await connection.send(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                          b"\r\n" + chunks + b"0\r\n\r\n")
    status, _, answer = await connection.answer()
    assert status == 200 and json.loads(answer)["transaction_id"] == "chunk/0/1"
    await connection.close()


async def test_expect_100_continue_is_answered_before_the_body(target: RunningTarget) -> None:
    body = txn_body("expect/0/1")
    connection = await Connection.to(target)
    await connection.send(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body))
    interim = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 10)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    await connection.send(body)
    status, _, _ = await connection.answer()
    assert status == 200
    await connection.close()


@pytest.mark.parametrize("chunked", [False, True])
async def test_a_body_past_the_limit_is_413_counted_and_the_connection_goes_on(
    target: RunningTarget, chunked: bool,
) -> None:
    big = b"x" * 100_000
    if chunked:
        request = (b"POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   + b"".join(b"%x\r\n%s\r\n" % (8192, big[i:i + 8192])
                              for i in range(0, 98_304, 8192)) + b"0\r\n\r\n")
    else:
        request = score_request(big)
    connection = await Connection.to(target)
    await connection.send(request)
    status, _, body = await connection.answer()
    assert status == 413
    assert json.loads(body) == {"error": "body: larger than 4096 bytes"}
    await connection.send(score_request(txn_body("after/0/1")))
    assert (await connection.answer())[0] == 200
    await connection.close()
    assert (await stats(target, "unknown"))["responses"] == {"413": 1}


@pytest.mark.parametrize("garbage", [
    b"HELLO\r\n\r\n",
    b"POST /v1/score HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /v1/score HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
async def test_malformed_http_is_400_naming_the_problem_and_counts_nothing(
    target: RunningTarget, garbage: bytes,
) -> None:
    connection = await Connection.to(target)
    await connection.send(garbage)
    status, headers, body = await connection.answer()
    assert status == 400 and headers["connection"] == "close"
    assert json.loads(body)["error"].startswith("request: malformed HTTP")
    assert await connection.closed()
    assert (await stats(target, "unknown"))["received"] == 0
    # and the service serves the next client
    other = await Connection.to(target)
    await other.send(score_request(txn_body("next/0/1")))
    assert (await other.answer())[0] == 200
    await other.close()


async def test_unknown_paths_and_wrong_methods_are_refused(target: RunningTarget) -> None:
    connection = await Connection.to(target)
    await connection.send(b"GET /admin/faults HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await connection.answer()
    assert status == 404 and "/admin/faults" in json.loads(body)["error"]
    await connection.send(b"GET /v1/score HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = await connection.answer()
    assert status == 405 and "POST" in json.loads(body)["error"]
    await connection.send(b"DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _ = await connection.answer()
    assert status == 405 and headers["allow"] == "GET, HEAD"
    await connection.send(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(connection.reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    await connection.send(score_request(txn_body("methods/0/1")))
    assert (await connection.answer())[0] == 200  # no body came after HEAD's head
    await connection.close()


async def test_a_body_cut_off_by_the_client_is_counted_as_dropped(target: RunningTarget) -> None:
    connection = await Connection.to(target)
    await connection.send(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n{")
    await connection.close()
    for _ in range(100):
        counted = await stats(target, "unknown")
        if counted["received"]:
            break
        await asyncio.sleep(0.05)
    assert counted["received"] == 1 and counted["responses"] == {"dropped": 1}


async def test_answers_beyond_capacity_are_429_on_the_lean_path() -> None:
    slow = AgentConfig(concurrency=1, max_queue=0, service_time_ms=300, service_time_sigma=0)
    running = await start_target(config=TargetConfig(seed=3, agent_defaults=slow))
    try:
        connections = [await Connection.to(running) for _ in range(3)]
        for seq, connection in enumerate(connections):
            await connection.send(score_request(txn_body(f"full/0/{seq}")))
        statuses = sorted([(await c.answer())[0] for c in connections])
        for connection in connections:
            await connection.close()
        assert statuses == [200, 429, 429]
        assert (await stats(running, "full"))["responses"] == {"200": 1, "429": 2}
    finally:
        await running.stop()
