"""Live readings for the dashboards: process CPU and memory, and the reference service's agents."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import psutil

from reference_service.config import TargetConfig
from stresslab.local.faults import (
    AdminClient,
    AdminUnavailable,
    FaultInjectionFailed,
    describe_error,
)

PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 0.8


def _reading(process: psutil.Process) -> dict[str, Any]:
    try:
        with process.oneshot():
            return {"pid": process.pid, "cpu_pct": round(process.cpu_percent(None), 1),
                    "rss_mb": round(process.memory_info().rss / 2**20, 1)}
    except psutil.Error:
        return {"pid": process.pid, "cpu_pct": None, "rss_mb": None}


class ServiceProcesses:
    """A service as process 0 and the processes it started (the reference service runs one
    per core); each is kept between samples, since psutil measures CPU since the last call."""

    def __init__(self, root: psutil.Process) -> None:
        self._root = root
        self._others: dict[int, psutil.Process] = {}

    def every(self) -> list[psutil.Process]:
        try:
            children = self._root.children(recursive=True)
        except psutil.Error:
            children = []
        known = self._others
        self._others = {child.pid: known.get(child.pid, child) for child in children}
        return [self._root, *self._others.values()]

    def reading(self) -> dict[str, Any]:
        """CPU % (of one core) and RSS summed over the processes that could be read."""
        readings = [_reading(process) for process in self.every()]
        alive = [one for one in readings if one["cpu_pct"] is not None]
        if not alive:
            return {"pid": self._root.pid, "cpu_pct": None, "rss_mb": None, "processes": 0}
        return {"pid": self._root.pid,
                "cpu_pct": round(sum(one["cpu_pct"] for one in alive), 1),
                "rss_mb": round(sum(one["rss_mb"] for one in alive), 1),
                "processes": len(alive)}


class ProcessMeter:
    """CPU % (of one core, since the last sample) and RSS of the target (all its processes)
    and of the worker processes."""

    def __init__(self, target_pid: int | None, worker_pids: list[int]) -> None:
        self._target: ServiceProcesses | None = None
        if target_pid:
            with contextlib.suppress(psutil.Error):
                self._target = ServiceProcesses(psutil.Process(target_pid))
        self._workers: list[psutil.Process] = []
        for pid in worker_pids:
            with contextlib.suppress(psutil.Error):
                self._workers.append(psutil.Process(pid))
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                process.cpu_percent(None)
        psutil.cpu_percent(None)
        self._net = self._loopback_bytes()
        self._net_at = time.monotonic()

    def _processes(self) -> list[psutil.Process]:
        return (self._target.every() if self._target else []) + self._workers

    @staticmethod
    def _loopback_bytes() -> int | None:
        counters = psutil.net_io_counters(pernic=True).get("lo")
        return None if counters is None else counters.bytes_sent

    def sample(self) -> dict[str, Any]:
        workers = [{"name": f"worker-{i}", **_reading(p)} for i, p in enumerate(self._workers)]
        net, now = self._loopback_bytes(), time.monotonic()
        loopback = None
        if net is not None and self._net is not None and now > self._net_at:
            loopback = round((net - self._net) / (now - self._net_at) / 2**20, 2)
        self._net, self._net_at = net, now
        return {
            "target": self._target.reading() if self._target else None,
            "workers": workers,
            "generator": {
                "cpu_pct": round(sum(w["cpu_pct"] or 0.0 for w in workers), 1),
                "rss_mb": round(sum(w["rss_mb"] or 0.0 for w in workers), 1),
            },
            "host": {"cpu_pct": psutil.cpu_percent(None), "cpus": os.cpu_count(),
                     "memory_pct": psutil.virtual_memory().percent},
            "network": {"loopback_mb_s": loopback},
        }


def agent_load(health: dict[str, Any], config: TargetConfig) -> dict[str, dict[str, Any]]:
    """load_pct per agent from /health: calls in flight over the agent's parallel slots."""
    agents = health.get("agents")
    if not isinstance(agents, dict):
        return {}
    load: dict[str, dict[str, Any]] = {}
    for name, report in agents.items():
        if not isinstance(report, dict):
            continue
        # /health does not report its limits; the service runs the config we started it with
        limit = report.get("concurrency") or _concurrency(config, name)
        in_flight = report.get("in_flight")
        load[name] = {
            "healthy": report.get("healthy"),
            "in_flight": in_flight,
            "queued": report.get("queued"),
            "load_pct": round(100 * in_flight / limit, 1) if isinstance(in_flight, int) else None,
        }
    return load


def _concurrency(config: TargetConfig, name: str) -> int:
    agent = next((c for n, c in config.agents.items() if n == name), config.agent_defaults)
    return agent.concurrency


class TargetProbe:
    """Polls the reference service's /admin/health (agents and level) about once a second.

    A poll that fails or stalls leaves the agents unknown for that second and is counted;
    it never ends the probe.
    """

    def __init__(self, admin: AdminClient, config: TargetConfig | None = None) -> None:
        self._admin = admin
        self._config = config or TargetConfig()
        self.agents: dict[str, dict[str, Any]] = {}
        self.degradation: str | None = None
        self.polls = 0
        self.failures = 0
        self.last_error: str | None = None

    async def run(self, on_degradation: Callable[[str], None]) -> None:
        while True:
            await self._poll(on_degradation)
            await asyncio.sleep(PROBE_EVERY_S)

    async def _poll(self, on_degradation: Callable[[str], None]) -> None:
        self.polls += 1
        try:
            health = await asyncio.wait_for(self._admin.call("GET", "/admin/health"),
                                            PROBE_TIMEOUT_S)
            if not isinstance(health, dict):
                raise AdminUnavailable(f"GET /admin/health: not an object: {health!r:.60}")
        except (FaultInjectionFailed, TimeoutError) as error:
            self.agents = {}
            self.failures += 1
            self.last_error = describe_error(error)
            return
        self.agents = agent_load(health, self._config)
        level = health.get("degradation")
        if isinstance(level, str) and level != self.degradation:
            self.degradation = level
            on_degradation(level)
