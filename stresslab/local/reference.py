"""The bundled reference service as a child process, for `stresslab run --target local`."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys

import aiohttp
import psutil

_LISTENING = re.compile(r"listening on (http://\S+)")
START_TIMEOUT_S = 30.0


class ReferenceServiceFailed(RuntimeError):
    """The reference service did not start."""


class ReferenceService:
    """`python -m stresslab.target` on 127.0.0.1 with a free port; its own count of requests."""

    def __init__(self, process: asyncio.subprocess.Process, base_url: str) -> None:
        self._process = process
        self.base_url = base_url
        self.score_url = f"{base_url}/v1/score"
        self._ps = psutil.Process(process.pid)

    @classmethod
    async def start(cls, host: str = "127.0.0.1", port: int = 0) -> ReferenceService:
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
        service = cls(process, base_url)
        asyncio.get_running_loop().create_task(service._discard_output())
        return service

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

    async def _discard_output(self) -> None:
        assert self._process.stdout is not None
        while await self._process.stdout.readline():
            pass

    @property
    def pid(self) -> int:
        return self._process.pid

    def rss_mb(self) -> float:
        try:
            return float(self._ps.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

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
