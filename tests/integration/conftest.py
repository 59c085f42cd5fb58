"""Fixtures the dashboard server's integration tests share: a server on a free port with the
test module's own TOKEN, and an HTTP client session. A module defining its own fixture of the
same name keeps it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from stresslab.local.server import RunningServer, start_server
from stresslab.local.server_settings import ServerSettings


@pytest.fixture
async def server(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    settings = ServerSettings(port=0, token=request.module.TOKEN, db_path=tmp_path / "runs.db",
                              results_dir=tmp_path / "results", site_dir=tmp_path / "dist")
    running = await start_server(settings)
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
