"""API Gateway and CloudFront of the emulation, on 127.0.0.1: the site from its bucket, the
HTTP API's routes as payload v2 events (JWT authoriser included), the WebSocket API's routes
as WebSocket events, and the management API (POST /@connections/{id}) the handlers call."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import jwt
from aiohttp import WSMsgType, web

from .account import Account, HttpRoute, JwtAuthorizer
from .template import ACCOUNT

Invoke = Callable[[str, dict[str, Any]], Any]
API_PREFIX = "/api"


class Unauthorized(Exception):
    """The JWT authoriser refused the request."""


class JwtAuthoriser:
    """What an HTTP API JWT authoriser checks: signature against the issuer's JWKS, issuer,
    expiry, and audience (`aud` of an ID token or `client_id` of an access token)."""

    def __init__(self, config: JwtAuthorizer, jwks_url: str) -> None:
        self.config = config
        self._keys = jwt.PyJWKClient(jwks_url, cache_keys=True)

    def claims(self, header: str | None) -> dict[str, Any]:
        if not header:
            raise Unauthorized("no token")
        token = header[7:] if header.lower().startswith("bearer ") else header
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=self.config.issuer,
                options={"verify_aud": False, "require": ["exp", "iss"]})
        except jwt.PyJWTError as error:
            raise Unauthorized(str(error)) from None
        audience = claims.get("aud") or claims.get("client_id")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.config.audience and not set(audiences) & set(self.config.audience):
            raise Unauthorized("audience not allowed")
        return claims


def _claim_text(value: Any) -> str:
    # The HTTP API passes every claim as a string; arrays as "[a b]".
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


@dataclass
class Connection:
    socket: web.WebSocketResponse
    connected_at: float
    source_ip: str


class Gateway:
    """One aiohttp app served on an HTTP port (browsers) and an HTTPS port (the handlers'
    management endpoint, which their settings require to be https)."""

    def __init__(self, cert: Path, key: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self._cert, self._key = cert, key
        self.account: Account | None = None
        self.invoke: Invoke | None = None
        self.s3: Any = None
        self.console: Callable[[], dict[str, Any]] = dict
        self.authorisers: dict[str, JwtAuthoriser] = {}
        self.connections: dict[str, Connection] = {}
        self.delivered = 0
        self.moto_url = ""
        # Fields the emulation adds to the stack's config.json (none unless asked: see system).
        self.config_extras: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(16, thread_name_prefix="gateway-invoke")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="gateway")
        self._runner: web.AppRunner | None = None
        self.http_port = 0
        self.https_port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, http_port: int = 0) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(http_port), self._loop).result(30)

    async def _start(self, http_port: int) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._http_api)
        app.router.add_post("/{stage}/@connections/{connection_id}", self._post_to_connection)
        app.router.add_get("/{stage}/@connections/{connection_id}", self._get_connection)
        app.router.add_delete("/{stage}/@connections/{connection_id}", self._delete_connection)
        app.router.add_get("/console", self._console)
        app.router.add_post("/cognito/", self._cognito)
        app.router.add_get("/{path:.*}", self._site_or_socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        plain = web.TCPSite(self._runner, self.host, http_port)
        await plain.start()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert, self._key)
        secure = web.TCPSite(self._runner, self.host, 0, ssl_context=context)
        await secure.start()
        self.http_port = plain._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.https_port = secure._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def close() -> None:
            for connection in list(self.connections.values()):
                await connection.socket.close()
            if self._runner:
                await self._runner.cleanup()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def https_url(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    def attach(self, account: Account, invoke: Invoke, s3: Any, jwks_url: str,
               console: Callable[[], dict[str, Any]]) -> None:
        self.account, self.invoke, self.s3, self.console = account, invoke, s3, console
        self.authorisers = {lid: JwtAuthoriser(config, jwks_url)
                            for lid, config in account.authorizers.items()}

    async def _call(self, function: str, event: dict[str, Any]) -> Any:
        assert self.invoke is not None
        return await self._loop.run_in_executor(self._pool, self.invoke, function, event)

    # -- CloudFront: the site bucket ---------------------------------------------------------

    async def _site_or_socket(self, request: web.Request) -> web.StreamResponse:
        account = self.account
        if account is None:
            return web.json_response({"message": "starting"}, status=503)
        path = request.match_info["path"]
        if account.websocket_stage and path == account.websocket_stage and \
                request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        key = path or "index.html"

        def read() -> tuple[bytes, str] | None:
            try:
                got = self.s3.get_object(Bucket=account.site_bucket, Key=key)
            except self.s3.exceptions.NoSuchKey:
                return None
            return got["Body"].read(), got.get("ContentType", "application/octet-stream")

        found = await self._loop.run_in_executor(self._pool, read)
        if found is None:
            return web.Response(status=404, text="Not Found")
        body, content_type = found
        if key == "config.json" and self.config_extras:
            body = json.dumps({**json.loads(body), **self.config_extras}).encode()
        return web.Response(body=body, content_type=content_type.split(";")[0],
                            headers={"Cache-Control": "no-store"})

    async def _cognito(self, request: web.Request) -> web.Response:
        """Cognito's API for the browser, same origin: the request as it came, to moto."""
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "x-amz-target", "x-amz-user-agent")}
        async with aiohttp.ClientSession() as session, session.post(
                self.moto_url + "/", data=await request.read(), headers=headers) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)

    async def _console(self, request: web.Request) -> web.Response:
        summary = await self._loop.run_in_executor(self._pool, self.console)
        return web.json_response(summary, dumps=lambda v: json.dumps(v, default=str, indent=1))

    # -- HTTP API ---------------------------------------------------------------------------

    def _match(self, method: str, path: str) -> tuple[HttpRoute, dict[str, str]] | None:
        assert self.account is not None
        routes = sorted(self.account.http_routes, key=lambda r: ("+}" in r.path, r.method == "ANY"))
        for route in routes:
            if route.method not in (method, "ANY"):
                continue
            match = _route_pattern(route.path).match(path)
            if match:
                return route, match.groupdict()
        return None

    async def _http_api(self, request: web.Request) -> web.Response:
        if self.account is None:
            return web.json_response({"message": "starting"}, status=503)
        path = "/" + request.match_info["tail"]
        if request.method == "OPTIONS":
            return web.Response(status=204, headers={
                "Access-Control-Allow-Methods": "GET,POST,DELETE",
                "Access-Control-Allow-Headers": "authorization,content-type",
                "Access-Control-Allow-Origin": request.headers.get("Origin", "*")})
        matched = self._match(request.method, path)
        if matched is None:
            return web.json_response({"message": "Not Found"}, status=404)
        route, parameters = matched
        authorizer: dict[str, Any] | None = None
        if route.authorizer:
            authoriser = self.authorisers[route.authorizer]
            header = request.headers.get("Authorization")
            try:
                claims = await self._loop.run_in_executor(self._pool, authoriser.claims, header)
            except Unauthorized:
                return web.json_response({"message": "Unauthorized"}, status=401,
                                         headers={"www-authenticate": "Bearer"})
            scopes = claims.get("scope")
            authorizer = {"jwt": {"claims": {k: _claim_text(v) for k, v in claims.items()},
                                  "scopes": scopes.split() if scopes else None}}
        event = await self._v2_event(request, route, path, parameters, authorizer)
        try:
            result = await self._call(route.function, event)
        except Exception:  # noqa: BLE001 - a function error is API Gateway's 500
            return web.json_response({"message": "Internal Server Error"}, status=500)
        return _v2_response(result)

    async def _v2_event(self, request: web.Request, route: HttpRoute, path: str,
                        parameters: dict[str, str], authorizer: dict[str, Any] | None,
                        ) -> dict[str, Any]:
        raw = await request.read()
        text_types = ("json", "text", "xml", "x-www-form-urlencoded", "javascript")
        is_text = not raw or any(t in request.content_type for t in text_types)
        now = time.time()
        route_key = f"{route.method} {route.path}" if route.method != "ANY" else route.path
        context: dict[str, Any] = {
            "accountId": ACCOUNT, "apiId": "emulated", "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {"method": request.method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": request.remote or "127.0.0.1",
                     "userAgent": request.headers.get("User-Agent", "")},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        if authorizer:
            context["authorizer"] = authorizer
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event: dict[str, Any] = {
            "version": "2.0", "routeKey": route_key, "rawPath": path,
            "rawQueryString": request.query_string, "headers": headers,
            "requestContext": context, "isBase64Encoded": not is_text,
        }
        cookies = request.headers.getall("Cookie", [])
        if cookies:
            event["cookies"] = [c.strip() for h in cookies for c in h.split(";")]
        if request.query_string:
            query: dict[str, str] = {}
            for key, value in parse_qsl(request.query_string, keep_blank_values=True):
                query[key] = f"{query[key]},{value}" if key in query else value
            event["queryStringParameters"] = query
        if parameters:
            event["pathParameters"] = parameters
        if raw:
            event["body"] = raw.decode() if is_text else base64.b64encode(raw).decode()
        return event

    # -- WebSocket API ----------------------------------------------------------------------

    def _ws_context(self, route_key: str, event_type: str, connection_id: str,
                    request: web.Request, connected_at: float) -> dict[str, Any]:
        assert self.account is not None
        now = time.time()
        return {
            "routeKey": route_key, "eventType": event_type, "connectionId": connection_id,
            "extendedRequestId": str(uuid.uuid4()), "requestId": str(uuid.uuid4()),
            "messageDirection": "IN", "stage": self.account.websocket_stage,
            "connectedAt": int(connected_at * 1000), "requestTimeEpoch": int(now * 1000),
            "domainName": request.host, "apiId": "emulated",
            "identity": {"sourceIp": request.remote or "127.0.0.1",
                         "userAgent": request.headers.get("User-Agent", "")},
        }

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        assert self.account is not None
        routes = self.account.websocket_routes
        connection_id = base64.b64encode(uuid.uuid4().bytes[:9]).decode()
        connected_at = time.time()
        connect: dict[str, Any] = {
            "headers": dict(request.headers),
            "multiValueHeaders": {k: request.headers.getall(k) for k in request.headers},
            "requestContext": self._ws_context("$connect", "CONNECT", connection_id, request,
                                               connected_at),
            "isBase64Encoded": False,
        }
        if request.query:
            connect["queryStringParameters"] = dict(request.query)
        if "$connect" in routes:
            try:
                answer = await self._call(routes["$connect"], connect)
            except Exception:  # noqa: BLE001 - a function error refuses the connection
                return web.Response(status=500, text="Internal Server Error")
            status = int(answer.get("statusCode", 200)) if isinstance(answer, dict) else 200
            if not 200 <= status < 300:
                return web.Response(status=status, text=str(answer.get("body", "")))
        socket = web.WebSocketResponse(heartbeat=30)
        await socket.prepare(request)
        self.connections[connection_id] = Connection(socket, connected_at,
                                                     request.remote or "127.0.0.1")
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                route = self._select_route(message.data)
                if route is None:
                    continue
                event = {"requestContext": self._ws_context(
                    route[0], "MESSAGE", connection_id, request, connected_at),
                    "body": message.data, "isBase64Encoded": False}
                try:
                    await self._call(route[1], event)
                except Exception:  # noqa: BLE001 - API Gateway logs it; the socket stays
                    await socket.send_str(json.dumps({"message": "Internal server error"}))
        finally:
            self.connections.pop(connection_id, None)
            if "$disconnect" in routes:
                event = {"requestContext": self._ws_context(
                    "$disconnect", "DISCONNECT", connection_id, request, connected_at),
                    "isBase64Encoded": False}
                try:
                    await self._call(routes["$disconnect"], event)
                except Exception:  # noqa: BLE001, S110 - $disconnect is best effort, as in AWS
                    pass
        return socket

    def _select_route(self, body: str) -> tuple[str, str] | None:
        """$request.body.action, else $default."""
        assert self.account is not None
        routes = self.account.websocket_routes
        try:
            action = json.loads(body).get("action")
        except (ValueError, AttributeError):
            action = None
        if isinstance(action, str) and action in routes:
            return action, routes[action]
        return ("$default", routes["$default"]) if "$default" in routes else None

    # -- the management API -----------------------------------------------------------------

    async def _post_to_connection(self, request: web.Request) -> web.Response:
        connection = self.connections.get(request.match_info["connection_id"])
        data = await request.read()
        if connection is None or connection.socket.closed:
            return _gone()
        try:
            await connection.socket.send_str(data.decode())
        except (ConnectionError, RuntimeError):
            return _gone()
        self.delivered += 1
        return web.Response(status=200)

    async def _get_connection(self, request: web.Request) -> web.Response:
        connection = self.connections.get(request.match_info["connection_id"])
        if connection is None:
            return _gone()
        return web.json_response({
            "ConnectedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                         time.gmtime(connection.connected_at)),
            "Identity": {"SourceIp": connection.source_ip}})

    async def _delete_connection(self, request: web.Request) -> web.Response:
        connection = self.connections.pop(request.match_info["connection_id"], None)
        if connection is None:
            return _gone()
        await connection.socket.close()
        return web.Response(status=204)


def _gone() -> web.Response:
    return web.json_response({"message": "Connection is gone"}, status=410,
                             headers={"x-amzn-ErrorType": "GoneException"})


def _v2_response(result: Any) -> web.Response:
    """Payload v2's response: a dict with statusCode as given; anything else is a 200 JSON."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return web.json_response(result)
    headers = dict(result.get("headers") or {})
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ",".join(values)
    body: bytes | str = result.get("body") or ""
    if result.get("isBase64Encoded") and isinstance(body, str):
        body = base64.b64decode(body)
    response = web.Response(status=int(result["statusCode"]), body=body, headers=headers)
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    return response
