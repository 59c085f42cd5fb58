"""The local dashboard server: the built site, config.json, the /ws hub and the control API.

Its parts: server_settings (what it listens on and serves), http_guards (allow-lists, token,
headers, caps), run_control (the one run it drives), api_routes (the routes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from stresslab.control import InjectFault, StartRun
from stresslab.local.api_routes import EXPORTS, add_routes
from stresslab.local.http_guards import (
    HOST_NAMES,
    MAX_BODY_BYTES,
    OPERATOR_TOKEN,
    BadRequest,
    api_errors,
    cap_connections,
    content_security_policy,
    same_origin_only,
    security_headers,
)
from stresslab.local.run_control import NoRun, RunController, RunInProgress, build_spec
from stresslab.local.server_settings import PAGES, SITE_DIR, ServerSettings

__all__ = [
    "EXPORTS", "PAGES", "SITE_DIR", "BadRequest", "FaultRequest", "NoRun", "RunController",
    "RunInProgress", "RunRequest", "RunningServer", "ServerSettings", "build_spec",
    "content_security_policy", "create_app", "start_server",
]

# The request bodies are the control API contract's (stresslab.control), shared with AWS.
RunRequest = StartRun
FaultRequest = InjectFault


def create_app(controller: RunController) -> web.Application:
    """The dashboard server as an aiohttp application around one run controller."""
    app = web.Application(client_max_size=MAX_BODY_BYTES,
                          middlewares=[same_origin_only, api_errors])
    app[HOST_NAMES] = controller.settings.host_names()
    app[OPERATOR_TOKEN] = controller.settings.token
    app.on_response_prepare.append(security_headers)
    add_routes(app, controller)
    return app


@dataclass
class RunningServer:
    """The dashboard server listening on a real socket until `stop`."""

    url: str
    controller: RunController
    _runner: web.AppRunner

    @property
    def token(self) -> str:
        return self.controller.settings.token

    def page_urls(self) -> dict[str, str]:
        urls = {page: f"{self.url}/{page}" for page in PAGES}
        # In the fragment, the token never reaches a server log, a Referer or a redirect.
        urls["admin"] += f"#token={self.token}"
        return urls

    async def stop(self) -> None:
        await self.controller.shutdown()
        await self._runner.cleanup()


async def start_server(
    settings: ServerSettings, announce: Callable[[str], None] | None = None
) -> RunningServer:
    """Serve the dashboards on settings.host:port (0: a free port) in the running loop."""
    controller = RunController(settings, announce)
    runner = web.AppRunner(create_app(controller), access_log=None,
                           keepalive_timeout=settings.keepalive_timeout_s)
    await runner.setup()
    assert runner.server is not None
    cap_connections(runner.server, settings.max_connections)
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except BaseException:
        await runner.cleanup()
        controller.store.close()
        raise
    port = runner.addresses[0][1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return RunningServer(f"http://{host}:{port}", controller, runner)
