"""The bundled reference service as a child process, for `stresslab run --target local`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import sys
from typing import Any
from urllib.parse import urlsplit

import psutil

from reference_service.config import TOKEN_ENV
from stresslab.local.faults import (
    AdminClient,
    Backoff,
    FaultInjectionFailed,
    ReferenceTargetFaults,
    with_retries,
)

_LISTENING = re.compile(r"listening on (http://\S+) admin on (http://\S+)")
_PROCESSES = re.compile(r"target processes: (http://.+)$")
START_TIMEOUT_S = 30.0
RESTART_ATTEMPTS = 5
RESTART_PAUSE_S = 0.2
LEVEL_DEADLINE_S = 3.0
STATS_DEADLINE_S = 5.0
# The service's default: a process per core, capped. stresslab's workers send each card to its
# owner's port (targets.card_routed): behind the shared port half the requests would take an
# extra hop, and 2 processes answered 0.67x of one on 2 cores; routed by card, 1.44x
# (bench/reference_scaling.py, docs/performance.md).
STARTED_PROCESSES: int | None = None


class ReferenceServiceFailed(RuntimeError):
    """The reference service did not start."""


class ReferenceService:
    """`python -m reference_service` on 127.0.0.1 with free ports and a fresh admin token.

    Scoring goes to `score_url` (any process; the card's owner answers), or straight to the
    owner's own port: `score_urls[owner_of(card_id, len(score_urls))]`. The run's side work
    (faults, levels, counts, health) goes to the admin API on its own port and thread
    (`admin_url`), which applies it to every process and sums their counts.
    """

    def __init__(
        self, process: asyncio.subprocess.Process, base_url: str, admin_url: str, token: str,
        process_urls: tuple[str, ...] = (),
    ) -> None:
        self._process = process
        self.base_url = base_url
        self.score_url = f"{base_url}/v1/score"
        self.process_urls = process_urls or (base_url,)
        self.score_urls = tuple(f"{url}/v1/score" for url in self.process_urls)
        self.token = token
        self.admin_url = admin_url
        self._own_admin_url = admin_url  # where it listens, even when admin_url is repointed
        self._ps = psutil.Process(process.pid)
        self._ps.cpu_percent(None)
        self._members: dict[int, psutil.Process] = {}
        self._output: asyncio.Task[None] | None = None
        self.restarts = 0
        self.last_words = ""

    @property
    def admin(self) -> AdminClient:
        """A client of the admin API (a test may point admin_url through a proxy)."""
        return AdminClient(self.admin_url, self.token)

    def faults(self) -> ReferenceTargetFaults:
        return ReferenceTargetFaults(self.admin)

    @classmethod
    async def start(
        cls, host: str = "127.0.0.1", port: int = 0, processes: int | None = STARTED_PROCESSES,
    ) -> ReferenceService:
        """processes: None for the service's default (this machine's cores, capped)."""
        token = secrets.token_urlsafe(24)
        process, base_url, admin_url, own = await cls._spawn(host, port, 0, token, processes)
        service = cls(process, base_url, admin_url, token, own)
        service._output = asyncio.get_running_loop().create_task(service._keep_output(process))
        return service

    @classmethod
    async def _spawn(
        cls, host: str, port: int, admin_port: int, token: str, processes: int | None,
        process_ports: tuple[int, ...] = (),
    ) -> tuple[asyncio.subprocess.Process, str, str, tuple[str, ...]]:
        sizing = [] if processes is None else ["--processes", str(processes)]
        if process_ports:
            sizing += ["--process-ports", ",".join(str(port) for port in process_ports)]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reference_service", "--host", host, "--port", str(port),
            "--admin-port", str(admin_port), *sizing,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, TOKEN_ENV: token},
        )
        try:
            urls = await asyncio.wait_for(cls._read_urls(process), timeout=START_TIMEOUT_S)
        except (TimeoutError, ReferenceServiceFailed):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise ReferenceServiceFailed("the reference service did not start") from None
        return process, *urls

    @property
    def exited(self) -> bool:
        """The process has ended (crashed or was killed) without `stop`, and its last words
        have been read."""
        output = self._output
        return self._process.returncode is not None and (output is None or output.done())

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def restart(self) -> None:
        """A new service on the same host and ports, so clients reach it at the same URLs.

        The ports can take a moment to be free again, hence a few tries.
        """
        parts = urlsplit(self.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 0
        admin_port = urlsplit(self._own_admin_url).port or 0
        count = len(self.process_urls)
        own_ports = tuple(urlsplit(url).port or 0 for url in self.process_urls) if count > 1 else ()
        for attempt in range(RESTART_ATTEMPTS):
            try:
                process, base_url, _, _ = await self._spawn(
                    host, port, admin_port, self.token, count, own_ports)
                break
            except ReferenceServiceFailed:
                if attempt + 1 == RESTART_ATTEMPTS:
                    raise
                await asyncio.sleep(RESTART_PAUSE_S)
        if base_url != self.base_url:  # cannot happen with a fixed port; never serve elsewhere
            process.kill()
            await process.wait()
            raise ReferenceServiceFailed(f"restarted on {base_url}, not {self.base_url}")
        try:
            ps = psutil.Process(process.pid)
            ps.cpu_percent(None)
        except psutil.Error:
            raise ReferenceServiceFailed("the restarted reference service exited at once") from None
        self._process, self._ps, self._members = process, ps, {}
        self.restarts += 1
        self.last_words = ""  # the new process's own, if it ends too
        self._output = asyncio.get_running_loop().create_task(self._keep_output(process))

    @staticmethod
    async def _read_urls(
        process: asyncio.subprocess.Process,
    ) -> tuple[str, str, tuple[str, ...]]:
        assert process.stdout is not None
        urls: tuple[str, str] | None = None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise ReferenceServiceFailed("the reference service exited")
            text = line.decode(errors="replace").strip()
            if (match := _LISTENING.search(text)) is not None:
                urls = match.group(1).rstrip("/"), match.group(2).rstrip("/")
            elif (own := _PROCESSES.search(text)) is not None and urls is not None:
                return *urls, tuple(url.rstrip("/") for url in own.group(1).split())

    async def _keep_output(self, process: asyncio.subprocess.Process) -> None:
        """Read on (a full pipe would stall the service); the last line says why it ended."""
        assert process.stdout is not None
        while line := await process.stdout.readline():
            self.last_words = line.decode(errors="replace").strip()[:200]

    @property
    def pid(self) -> int:
        return self._process.pid

    def _every_process(self) -> list[psutil.Process]:
        """Process 0 and the others it started (kept, so CPU is measured between calls)."""
        try:
            children = self._ps.children()
        except psutil.Error:
            return [self._ps]
        known = self._members
        self._members = {child.pid: known.get(child.pid, child) for child in children}
        return [self._ps, *self._members.values()]

    def rss_mb(self) -> float:
        """Resident memory of all the service's processes."""
        total = 0.0
        for process in self._every_process():
            with contextlib.suppress(psutil.Error):
                total += float(process.memory_info().rss) / 2**20
        return total

    def cpu_pct(self) -> float | None:
        """CPU % of one core used since the last call, all processes together (None once
        process 0 is gone)."""
        try:
            total = float(self._ps.cpu_percent(None))
        except psutil.Error:
            return None
        for process in self._every_process()[1:]:
            with contextlib.suppress(psutil.Error):
                total += float(process.cpu_percent(None))
        return total

    async def set_degradation(self, level: str, deadline_s: float = LEVEL_DEADLINE_S) -> None:
        """Ask the service to degrade; setting a level is idempotent, so it is retried.

        FaultInjectionFailed (one line) if it did not take it by the deadline.
        """
        async def post() -> Any:
            return await self.admin.call("POST", "/admin/degradation", {"level": level})

        await with_retries(post, Backoff(deadline_s))

    async def received(self, run_id: str, deadline_s: float = STATS_DEADLINE_S) -> int:
        """The service's own count of requests for the run, asked on the admin thread."""
        async def get() -> Any:
            return await self.admin.call("GET", "/admin/stats", params={"run_id": run_id})

        stats = await with_retries(get, Backoff(deadline_s))
        try:
            return int(stats["received"])
        except (KeyError, TypeError, ValueError):
            raise FaultInjectionFailed(f"GET /admin/stats: no count in {stats!r:.80}") from None

    async def stop(self) -> None:
        if self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), timeout=10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
