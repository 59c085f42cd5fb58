"""What stands between the network and the local dashboard server: the Host and Origin
allow-lists (DNS rebinding, other pages), the operator's bearer token, security headers (CSP),
a cap on connections, and one-line JSON errors under /api."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from yarl import URL

from stresslab.control import ContractError, ErrorBody

log = logging.getLogger("stresslab.local.server")

MAX_BODY_BYTES = 16 * 1024
HOST_NAMES = web.AppKey("stresslab_host_names", frozenset)
OPERATOR_TOKEN = web.AppKey("stresslab_operator_token", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """A request that cannot be carried out; the message names the field."""


def json_response(status: int, body: Any) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store"})


def error_response(status: int, message: str) -> web.Response:
    return json_response(status, ErrorBody(error=message).model_dump())


def answer_response(status: int, answer: BaseModel) -> web.Response:
    return json_response(status, answer.model_dump(mode="json", exclude_none=True))


def host_name(raw: str) -> str | None:
    try:
        return URL(f"http://{raw}").host
    except ValueError:
        return None


def refusal(request: web.Request, host_names: frozenset[str]) -> str | None:
    """Why a request may not be served: a name that is not ours (DNS rebinding), or, for the
    feed and the API, a page of another origin. None: serve it."""
    raw_host = request.headers.get("Host")
    if raw_host is not None:
        name = host_name(raw_host)
        if name is None or name.lower().rstrip(".") not in host_names:
            return (f"host: {raw_host!r} is not a name of this server; open it as "
                    f"http://127.0.0.1 or a name given with --host")
    origin = request.headers.get("Origin")
    if origin is None or not request.path.startswith(("/api/", "/ws")):
        return None  # tools send no Origin; browsers always do across origins
    own = URL.build(scheme=request.scheme, authority=request.host).origin()
    try:
        offered = URL(origin).origin()
    except ValueError:
        offered = None
    if offered != own:
        return (f"origin: pages of {origin} may not use this server's "
                f"{'live feed' if request.path.startswith('/ws') else 'API'}; only {own}")
    return None


@web.middleware
async def same_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host and Origin allow-lists, ahead of everything else."""
    reason = refusal(request, request.app[HOST_NAMES])
    if reason is None:
        return await handler(request)
    log.warning("refused %s %s: %s", request.method, request.path, reason)
    if request.path.startswith("/api/"):
        return error_response(403, reason)
    return web.Response(status=403, text=reason + "\n")


def content_security_policy(request: web.Request) -> str:
    """Scripts only from this server, no inline script, no framing, talk only to ourselves."""
    sources = ["'self'"]
    if refusal(request, request.app[HOST_NAMES]) is None:
        sources.append(f"{'wss' if request.secure else 'ws'}://{request.host}")
    return "; ".join((
        "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:", "font-src 'self' data:", f"connect-src {' '.join(sources)}",
        "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ))


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = content_security_policy(request)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api every failure is JSON with one line saying what went wrong."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except (BadRequest, ContractError) as error:
        return error_response(400, str(error))
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, f"body: larger than {MAX_BODY_BYTES} bytes")
    except web.HTTPException as error:
        if error.content_type == "application/json":
            raise
        return error_response(error.status, error.reason)
    except Exception:  # noqa: BLE001 - the caller gets one line, the log the traceback
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error: see the server's log")


def operator_only(handler: Handler) -> Handler:
    """Control actions need the bearer token printed when the server started."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        expected = f"Bearer {request.app[OPERATOR_TOKEN]}".encode()
        offered = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(offered, expected):
            response = error_response(401, "authorization: send 'Authorization: Bearer "
                                           "<token>' with the token printed when the server "
                                           "started")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return await handler(request)

    return guarded



def cap_connections(server: web.Server, limit: int) -> None:
    """Connections beyond `limit` are closed as they arrive (aiohttp itself has no cap)."""
    admit = server.connection_made

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        admit(handler, transport)
        if len(server.connections) > limit:
            log.warning("refusing a connection: %d open, at most %d", limit + 1, limit)
            transport.abort()

    server.connection_made = connection_made  # type: ignore[method-assign]
