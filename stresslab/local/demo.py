"""`stresslab demo`: the dashboard server, a first run on it, then runs from the admin page."""

from __future__ import annotations

import asyncio
import errno
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reference_service.service import is_loopback
from stresslab.local.server import (
    BadRequest,
    RunningServer,
    RunRequest,
    ServerSettings,
    build_spec,
    start_server,
)
from stresslab.scenario.presentation import PresentationError, check_presentation_files
from stresslab.scenario.spec import ScenarioSpec


class DemoFailed(RuntimeError):
    """The demo cannot start; the message is one line."""


@dataclass(frozen=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    scenario: str = "investor-demo"
    time_scale: float = 0.3
    load_scale: float = 0.2
    autostart: bool = True
    db_path: Path = Path(".stresslab/runs.db")
    results_dir: Path = Path("results")
    allow_remote: bool = False
    allowed_secrets: tuple[str, ...] = ()  # ${env:NAME} runs started over the API may read
    otlp_endpoint: str | None = None  # each run's live metrics also go there (OTLP/HTTP)


def _exposed(host: str) -> str:
    return (f"{host} is not a loopback address: anyone who can reach it would watch the live "
            "feed and read every run's spec and summary, unencrypted (plain HTTP, the admin "
            "token included when it is used)")


def _first_run(options: DemoOptions, settings: ServerSettings) -> ScenarioSpec | None:
    if not options.autostart:
        return None
    try:
        request = RunRequest(scenario=options.scenario, time_scale=options.time_scale,
                             load_scale=options.load_scale)
        return build_spec(request, settings)
    except (BadRequest, ValueError) as error:
        raise DemoFailed(f"--scenario/--time-scale/--load-scale: {error}") from None


def banner(server: RunningServer, site_built: bool, host: str) -> list[str]:
    urls = server.page_urls()
    lines = [f"stresslab demo: dashboards at {server.url}"]
    lines += [f"  {page:13} {url}" for page, url in urls.items()]
    lines.append("  (the admin page carries the token the controls need; the others are read-only)")
    if not site_built:
        lines.append("  note: dashboard_site/dist is missing: pages answer 503 until `make site`")
    if not is_loopback(host):
        lines.append(f"  WARNING: --host {_exposed(host)}. Stop with Ctrl-C unless you meant it.")
    return lines


def _print(line: str) -> None:
    print(line, flush=True)


async def run_demo(options: DemoOptions, say: Callable[[str], None] = _print) -> int:
    """Serve until SIGINT/SIGTERM; the first run starts at once unless autostart is off."""
    if not is_loopback(options.host) and not options.allow_remote:
        raise DemoFailed(f"--host {_exposed(options.host)}; add --allow-remote to do it anyway")
    try:
        check_presentation_files()
    except PresentationError as error:
        raise DemoFailed(str(error)) from None
    settings = ServerSettings(host=options.host, port=options.port, db_path=options.db_path,
                              results_dir=options.results_dir,
                              allowed_secrets=options.allowed_secrets,
                              otlp_endpoint=options.otlp_endpoint)
    first = _first_run(options, settings)
    try:
        server = await start_server(settings, announce=lambda line: say(f"stresslab: {line}"))
    except OSError as error:
        hint = " (another program uses it: try --port)" if error.errno == errno.EADDRINUSE else ""
        raise DemoFailed(f"cannot listen on {options.host}:{options.port}: "
                         f"{error.strerror or error}{hint}") from None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        for line in banner(server, settings.site_dir.is_dir(), options.host):
            say(line)
        if first is not None:
            server.controller.start(first)
        say("Ctrl-C to stop.")
        await stopping.wait()
        say("stresslab: stopping (a run in progress is aborted and its results written)")
    finally:
        await server.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0
