"""The load generator's own health, sampled once per window (CPU, descriptors, memory)."""

from __future__ import annotations

import os

import psutil

from stresslab.measurement.metrics import WorkerHealth

LAMBDA_FD_LIMIT = 1024
SATURATED_CPU_PCT = 95.0
SATURATED_FD_SHARE = 0.9


class GeneratorHealth:
    """Callable the ShardWorker asks for its health once per closed window."""

    def __init__(self) -> None:
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)
        self.peak_fds = 0
        self.peak_cpu = 0.0

    def __call__(self, in_flight: int) -> WorkerHealth:
        with self._process.oneshot():
            cpu = self._process.cpu_percent(None)
            fds = self._process.num_fds()
            rss = self._process.memory_info().rss / 2**20
        self.peak_fds = max(self.peak_fds, fds)
        self.peak_cpu = max(self.peak_cpu, cpu)
        return WorkerHealth(cpu_pct=cpu, rss_mb=round(rss, 1), open_fds=fds, in_flight=in_flight)


def saturation(health: WorkerHealth, fd_limit: int = LAMBDA_FD_LIMIT) -> str | None:
    """Why a generator with this health cannot be trusted to measure the target, or None."""
    if health.cpu_pct is not None and health.cpu_pct >= SATURATED_CPU_PCT:
        return f"generator CPU at {health.cpu_pct:.0f}%"
    if health.open_fds is not None and health.open_fds >= SATURATED_FD_SHARE * fd_limit:
        return f"generator holds {health.open_fds} of {fd_limit} file descriptors"
    return None
