"""The bundled reference service as a child process, for `stresslab run --target local`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from urllib.parse import urlsplit

import aiohttp
import psutil

_LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_S = 30.0
RESTART_ATTEMPTS = 5
RESTART_PAUSE_S = 0.2
ADMIN_TIMEOUT_S = 2.0


class ReferenceServiceFailed(RuntimeError):
    """The reference service did not start."""


class ReferenceService:
    """`python -m stresslab.target` on 127.0.0.1 with a free port; its own count of requests."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self._process = process
        self.base_url = base_url
        self.score_url = f"{base_url}/v1/score"
        self._ps = psutil.Process(process.pid)
        self._ps.cpu_percent(None)
        self._output: asyncio.Task[None] | None = None
        self.restarts = 0

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> ReferenceService:
        process, base_url = await cls._spawn(host, port)
        service = cls(process, base_url)
        service._output = asyncio.get_running_loop().create_task(service._discard_output(process))
        return service

    @classmethod
    async def _spawn(cls, host: str, port: int) -> tuple[asyncio.subprocess.Process, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stresslab.target", "--host", host, "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            base_url = await asyncio.wait_for(cls._read_url(process), timeout=START_TIMEOUT_S)
        except (TimeoutError, ReferenceServiceFailed):
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise ReferenceServiceFailed("the reference service did not start") from None
        return process, base_url

    @property
    def exited(self) -> bool:
        """The process has ended (crashed or was killed) without `stop`."""
        return self._process.returncode is not None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def restart(self) -> None:
        """A new process on the same host and port, so clients reach it at the same URL.

        The port can take a moment to be free again, hence a few tries.
        """
        parts = urlsplit(self.base_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 0
        for attempt in range(RESTART_ATTEMPTS):
            try:
                process, base_url = await self._spawn(host, port)
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
        self._process, self._ps = process, ps
        self.restarts += 1
        self._output = asyncio.get_running_loop().create_task(self._discard_output(process))

    @staticmethod
    async def _read_url(process: asyncio.subprocess.Process) -> str:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                raise ReferenceServiceFailed("the reference service exited")
            match = _LISTENING.search(line.decode(errors="replace"))
            if match:
                return match.group(1).rstrip("/")

    @staticmethod
    async def _discard_output(process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while await process.stdout.readline():
            pass

    @property
    def pid(self) -> int:
        return self._process.pid

    def rss_mb(self) -> float:
        try:
            return float(self._ps.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

    def cpu_pct(self) -> float | None:
        """CPU % of one core used since the last call (None once the process is gone)."""
        try:
            return float(self._ps.cpu_percent(None))
        except psutil.Error:
            return None

    async def set_degradation(self, level: str) -> bool:
        """Ask the service to degrade (POST /admin/degradation); False if it did not take it."""
        timeout = aiohttp.ClientTimeout(total=ADMIN_TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.post(
                    f"{self.base_url}/admin/degradation", json={"level": level}
                ) as response:
                    return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def received(self, run_id: str) -> int | None:
        """The service's own count of requests for the run (None if it cannot say)."""
        timeout = aiohttp.ClientTimeout(total=5)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(
                    f"{self.base_url}/v1/stats", params={"run_id": run_id}
                ) as response:
                    stats = await response.json()
                    return int(stats["received"])
        except (aiohttp.ClientError, TimeoutError, KeyError, ValueError):
            return None

    async def stop(self) -> None:
        if self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), timeout=10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
