"""A run started over the dashboard server's API reads only the environment variables the
server was started to allow: a scenario cannot point a target at itself with
${env:AWS_SECRET_ACCESS_KEY} and have the server send its own secrets there."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stresslab.local.server import RunningServer, ServerSettings, start_server

pytestmark = pytest.mark.timeout(60)

TOKEN = "policy-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "planted-server-secret-9f3a"
ANSWER = b'{"decision": "approve"}'
ROOT = Path(__file__).resolve().parents[2]


class Listener:
    """A target on 127.0.0.1 that records every connection and the bytes it was sent."""

    def __init__(self) -> None:
        self.connections = 0
        self.received = bytearray()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/assess"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(65536):
                self.received += data
                for _ in range(data.count(b"POST ")):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def inline(url: str, header: str, duration: str = "2s") -> dict[str, Any]:
    return {"name": "exfiltrate", "workers": 1,
            "phases": [{"shape": "constant", "tps": 5, "duration": duration}],
            "target": {"url": url, "headers": {"X-Key": header}}}


async def served(tmp_path: Path, allowed: tuple[str, ...] = ()) -> RunningServer:
    return await start_server(ServerSettings(
        port=0, token=TOKEN, db_path=tmp_path / "runs.db", results_dir=tmp_path / "results",
        site_dir=tmp_path / "dist", allowed_secrets=allowed,
    ))


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, data=json.dumps(body), headers=AUTH) as response:
        return response.status, await response.json()


async def test_a_variable_the_server_was_not_started_to_allow_is_refused_unsent(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVER_ONLY_SECRET", SECRET)
    server = await served(tmp_path)
    try:
        async with Listener() as listener:
            status, answer = await post(http, f"{server.url}/api/runs",
                                        {"scenario": inline(listener.url,
                                                            "${env:SERVER_ONLY_SECRET}")})
            await asyncio.sleep(0.5)
            assert listener.connections == 0
        assert status == 400
        assert answer["error"] == (
            "target secret ${env:SERVER_ONLY_SECRET} is not allowed for runs started over the "
            "API; start the server with --allow-secret SERVER_ONLY_SECRET")
        async with http.get(f"{server.url}/api/runs") as response:
            assert (await response.json()) == {"current": None, "runs": []}
    finally:
        await server.stop()


async def test_the_url_given_in_the_request_is_held_to_the_same_rule(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SERVER_ONLY_SECRET", SECRET)
    server = await served(tmp_path)
    try:
        async with Listener() as listener:
            status, answer = await post(http, f"{server.url}/api/runs", {
                "scenario": inline(listener.url, "fixed"),
                "target_url": listener.url + "?k=${env:SERVER_ONLY_SECRET}",
            })
            await asyncio.sleep(0.5)
            assert listener.connections == 0
        assert status == 400 and "${env:SERVER_ONLY_SECRET} is not allowed" in answer["error"]
    finally:
        await server.stop()


@pytest.mark.parametrize("name, allowed", [
    ("PARTNER_API_KEY", ("PARTNER_API_KEY",)),  # stresslab demo --allow-secret PARTNER_API_KEY
    ("STRESSLAB_TARGET_KEY", ()),  # the prefix every server allows
])
async def test_an_allowed_variable_is_sent_to_the_target(
    tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch,
    name: str, allowed: tuple[str, ...],
) -> None:
    monkeypatch.setenv(name, SECRET)
    server = await served(tmp_path, allowed)
    try:
        async with Listener() as listener:
            status, started = await post(http, f"{server.url}/api/runs",
                                         {"scenario": inline(listener.url, f"${{env:{name}}}")})
            assert status == 202, started
            await server.controller.wait()
            assert f"X-Key: {SECRET}".lower().encode() in bytes(listener.received).lower()
    finally:
        await server.stop()


async def test_the_cli_still_reads_any_variable_of_the_users_own_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = tmp_path / "partner.json"
    async with Listener() as listener:
        scenario.write_text(json.dumps(inline(listener.url, "${env:USERS_OWN_SECRET}")))
        probe = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "stresslab", "probe", str(scenario), "--count", "1",
            cwd=ROOT, env={**os.environ, "USERS_OWN_SECRET": SECRET},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(probe.communicate(), 50)
        assert probe.returncode == 0, err.decode()
        assert f"X-Key: {SECRET}".lower().encode() in bytes(listener.received).lower()
    assert SECRET not in out.decode() + err.decode()  # the probe masks what it prints


def test_the_demo_takes_repeatable_allow_secret_names_and_refuses_others() -> None:
    from stresslab.cli import build_parser

    args = build_parser().parse_args(
        ["demo", "--allow-secret", "PARTNER_KEY", "--allow-secret", "OTHER"])
    assert args.allow_secret == ["PARTNER_KEY", "OTHER"]
    done = subprocess.run([sys.executable, "-m", "stresslab", "demo", "--allow-secret", "A-B"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "'A-B' is not an environment variable name" in done.stderr
