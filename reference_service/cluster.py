"""The reference service as several processes, each card's history held by exactly one of them.

Why this shape (issue 13). The service is CPU-bound Python, so it scales with cores only as
processes, and pattern detection (velocity, travel, profiles in memory.py) is exact only if
every transaction of a card meets the same memory. SO_REUSEPORT alone cannot give that: the
kernel picks a process per connection, and one keep-alive connection carries many cards. So:

- every process has a port of its own (`own` ports) and owns the cards `owner_of` gives it;
- a client that routes by card (`owner_of(card_id, len(ports))` picks the port) reaches the
  owner directly, with no extra hop: that is the fast path, for stresslab's own workers;
- any other client (wrk, curl, a foreign tool) uses the shared port, bound with SO_REUSEPORT
  in every process; a process that is not the card's owner forwards the request to the
  owner's port over a kept-alive loopback connection, so memory stays exact at one hop's cost.

Measured on the 2-core machine (bench/reference_scaling.py, docs/performance.md): routing by
card beats forwarding, which spends about a third of each process on the extra hop.

Velocity windows are sized in traffic as well as in seconds (config.VelocityWindow): the
transactions and cards of a run are counted by all the processes together in a small shared
memory table (SharedTraffic), so a window spans the same traffic as in one process.

Process 0 (the one started) binds every socket before spawning the others, so all ports are
known up front and survive as they are; it also runs the admin API, which applies each change
to itself and then to every other process (their admin APIs on loopback, same token). A
process that dies takes its counts with it: process 0 then stops all and exits 1, so the
runner's supervisor notices, restarts the service and reports the count as unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import signal
import socket
import sys
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop

MAX_PROCESSES = 16
DEFAULT_CAP = 8
MEMBER_START_TIMEOUT_S = 30.0
FORWARD_CONNECTIONS = 256
FAN_OUT_TIMEOUT_S = 5.0
FAULT_ID_HEADER = "Stresslab-Fault-Id"


def owner_of(card_id: str, processes: int) -> int:
    """The process (0-based) that holds `card_id`'s history; stable across runs and machines."""
    return zlib.crc32(card_id.encode()) % processes if processes > 1 else 0


def default_processes() -> int:
    """The machine's cores this process may use, capped (more processes than cores only
    add switching)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_CAP))


def card_of(payload: object) -> str | None:
    """card.card_id of a parsed body, or None (the owner then is whoever received it)."""
    if isinstance(payload, dict):
        card = payload.get("card")
        if isinstance(card, dict):
            card_id = card.get("card_id")
            if isinstance(card_id, str):
                return card_id
    return None


def loopback_of(host: str) -> str:
    """Where a sibling process reaches a socket bound to `host`."""
    return "127.0.0.1" if host in {"0.0.0.0", ""} else "::1" if host == "::" else host


TRAFFIC_ROWS = 256
_CELL = 8  # one signed 64-bit count


class SharedTraffic:
    """The traffic of each run counted by every process (memory.TrafficCount).

    A table in shared memory: a row per run (by hash; two runs at once may share a row, which
    only widens their traffic windows), and in each row a (transactions, cards) pair per
    process that only that process writes, so no lock is needed; readers sum the row.
    """

    def __init__(self, fd: int, index: int, processes: int) -> None:
        self._index, self._processes = index, processes
        self._map = mmap.mmap(fd, self.size(processes))
        self._cells = memoryview(self._map).cast("q")
        self._rows: dict[str, int] = {}

    @staticmethod
    def size(processes: int) -> int:
        return TRAFFIC_ROWS * processes * 2 * _CELL

    @classmethod
    def create_fd(cls, processes: int) -> int:
        """An inheritable anonymous file of the table's size, zeroed."""
        fd = os.memfd_create("stresslab-traffic", 0)
        os.ftruncate(fd, cls.size(processes))
        os.set_inheritable(fd, True)
        return fd

    def _row(self, scope_id: str) -> int:
        row = self._rows.get(scope_id)
        if row is None:
            if len(self._rows) > 4 * TRAFFIC_ROWS:
                self._rows.clear()
            row = (zlib.crc32(scope_id.encode()) % TRAFFIC_ROWS) * self._processes * 2
            self._rows[scope_id] = row
        return row

    def arrive(self, scope_id: str, new_card: bool) -> None:
        own = self._row(scope_id) + self._index * 2
        self._cells[own] += 1
        if new_card:
            self._cells[own + 1] += 1

    def forget(self, scope_id: str) -> None:
        self._cells[self._row(scope_id) + self._index * 2 + 1] -= 1

    def now(self, scope_id: str) -> tuple[int, int]:
        row = self._row(scope_id)
        counts = self._cells[row:row + 2 * self._processes]
        return sum(counts[0::2]), sum(counts[1::2])


@dataclass(slots=True)
class ClusterRole:
    """This process's place among the others: which cards are its own and where the rest are."""

    index: int
    score_urls: tuple[str, ...]
    traffic: SharedTraffic | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @property
    def processes(self) -> int:
        return len(self.score_urls)

    def owner(self, payload: object) -> int:
        card_id = card_of(payload)
        return self.index if card_id is None else owner_of(card_id, self.processes)

    async def forward(self, owner: int, body: bytes) -> tuple[int, bytes]:
        """The owner's answer to `body`; aiohttp.ClientError if it did not give one."""
        async with self._client().post(self.score_urls[owner], data=body,
                                      headers={"Content-Type": "application/json"}) as answer:
            return answer.status, await answer.read()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=FORWARD_CONNECTIONS),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def ask_first(self, path_qs: str) -> tuple[int, bytes]:
        """Process 0's answer to a GET (it sums what every process counted)."""
        first = self.score_urls[0].removesuffix("/v1/score")
        async with self._client().get(first + path_qs) as answer:
            return answer.status, await answer.read()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class MemberAdmins:
    """The admin APIs of the other processes, driven from process 0's admin thread."""

    def __init__(self, admin_urls: Sequence[str], token: str) -> None:
        self.urls = tuple(admin_urls)
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session: aiohttp.ClientSession | None = None

    async def call_all(
        self, method: str, path: str, *, body: bytes | None = None,
        params: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> list[Any]:
        """Each member's JSON answer, in order; MemberUnreachable names the first that failed."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=FAN_OUT_TIMEOUT_S))
        sent_headers = {**self._headers, **(headers or {})}
        if body is not None:
            sent_headers["Content-Type"] = "application/json"

        async def one(number: int, url: str) -> Any:
            assert self._session is not None
            try:
                async with self._session.request(method, url + path, data=body, params=params,
                                                 headers=sent_headers) as answer:
                    data = orjson.loads(await answer.read())
                    if answer.status >= 400:
                        raise MemberUnreachable(f"process {number}: {answer.status} "
                                                f"{data.get('error', '')}".rstrip())
                    return data
            except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError) as error:
                raise MemberUnreachable(
                    f"process {number}: {type(error).__name__} {error}".rstrip()) from None

        return list(await asyncio.gather(
            *(one(number, url) for number, url in enumerate(self.urls, start=1))))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class MemberUnreachable(RuntimeError):
    """Another process of the service did not take an admin change or answer a question."""


@dataclass(slots=True)
class BoundSockets:
    """Every socket of an N-process service, bound by process 0 before the others start."""

    shared: list[socket.socket]  # one per process, all on the shared port (SO_REUSEPORT)
    own: list[socket.socket]  # one port per process
    member_admin: list[socket.socket]  # processes 1..N-1, on loopback

    @property
    def shared_port(self) -> int:
        return int(self.shared[0].getsockname()[1])

    @property
    def own_ports(self) -> list[int]:
        return [int(sock.getsockname()[1]) for sock in self.own]

    def close(self) -> None:
        for sock in (*self.shared, *self.own, *self.member_admin):
            sock.close()


def _listening(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_sockets(host: str, port: int, processes: int, own_ports: Sequence[int]) -> BoundSockets:
    """Bind the shared port once per process (SO_REUSEPORT), a port per process (`own_ports`,
    or free ones) and loopback admin ports for processes 1..N-1; OSError leaves none open."""
    bound: list[socket.socket] = []
    try:
        first = _listening(host, port, reuse_port=True)
        bound.append(first)
        shared_port = int(first.getsockname()[1])
        shared = [first]
        for _ in range(processes - 1):
            shared.append(_listening(host, shared_port, reuse_port=True))
            bound.append(shared[-1])
        wanted = list(own_ports) or [0] * processes
        own = []
        for own_port in wanted:
            own.append(_listening(host, own_port))
            bound.append(own[-1])
        admin = []
        for _ in range(processes - 1):
            admin.append(_listening(loopback_of(host), 0))
            bound.append(admin[-1])
    except BaseException:
        for sock in bound:
            sock.close()
        raise
    return BoundSockets(shared, own, admin)


@dataclass(frozen=True, slots=True)
class MemberBrief:
    """What process 0 tells process `index` on its stdin (one JSON line)."""

    index: int
    host: str
    score_urls: list[str]
    token: str
    config: dict[str, Any]
    shared_fd: int
    own_fd: int
    admin_fd: int
    traffic_fd: int

    def encode(self) -> bytes:
        return orjson.dumps({name: getattr(self, name) for name in self.__slots__}) + b"\n"


async def spawn_member(brief: MemberBrief) -> asyncio.subprocess.Process:
    """Start process `brief.index` with its sockets; returns once it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "reference_service.cluster",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        pass_fds=(brief.shared_fd, brief.own_fd, brief.admin_fd, brief.traffic_fd),
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(brief.encode())
    await process.stdin.drain()
    try:
        line = await asyncio.wait_for(process.stdout.readline(), MEMBER_START_TIMEOUT_S)
    except TimeoutError:
        line = b""
    if not line.startswith(b"ready"):
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise OSError(f"process {brief.index} of the service did not start")
    return process


def _member_main() -> None:
    """Entry of processes 1..N-1: serve until process 0 closes our stdin (it stopped or died)."""
    brief = orjson.loads(sys.stdin.buffer.readline())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; process 0 decides
    uvloop.run(_serve_member(brief))


async def _serve_member(brief: dict[str, Any]) -> None:
    from reference_service.config import TargetConfig
    from reference_service.serving import serve_member

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)

    def watch_parent() -> None:
        while os.read(0, 4096):  # unbuffered: a buffered read would hold a lock at shutdown
            pass
        loop.call_soon_threadsafe(stopping.set)

    config = TargetConfig.model_validate(brief["config"])
    sockets = [socket.socket(fileno=brief[name]) for name in ("shared_fd", "own_fd", "admin_fd")]
    urls = tuple(brief["score_urls"])
    traffic = SharedTraffic(brief["traffic_fd"], brief["index"], len(urls))
    role = ClusterRole(brief["index"], urls, traffic)
    async with serve_member(config, brief["token"], role, *sockets):
        print("ready", flush=True)
        threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
        await stopping.wait()


if __name__ == "__main__":
    _member_main()
