"""A small service that checks SigV4 signatures the way API Gateway's IAM auth does (botocore).

It rebuilds the canonical request from what arrived (method, path, the signed headers, the
body), recomputes the signature with the caller's secret key and compares; it checks the body
hash and the date too. It knows nothing of stresslab's signer.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import free_port

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[^,]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def verify(
    method: str, url: str, headers: dict[str, str], body: bytes,
    secrets_by_key: dict[str, str], service: str, region: str,
    now: datetime.datetime | None = None,
) -> str | None:
    """None when the signature is good; otherwise why not."""
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    if match is None:
        return "no SigV4 Authorization header"
    if (match["region"], match["service"]) != (region, service):
        return "signed for another region or service"
    secret = secrets_by_key.get(match["key"])
    if secret is None:
        return "unknown access key"
    if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        return "the body hash does not match the body"
    stamp = headers.get("x-amz-date", "")
    signed_at = datetime.datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=datetime.UTC)
    now = now or datetime.datetime.now(datetime.UTC)
    if abs((now - signed_at).total_seconds()) > 300:
        return "the signature is stale"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-content-sha256" not in signed:
        return "host and body hash must be signed"
    request = AWSRequest(method=method, url=url, data=body,
                         headers={name: headers[name] for name in signed if name in headers})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(
        Credentials(match["key"], secret, headers.get("x-amz-security-token")), service, region
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return None if hmac.compare_digest(expected, match["signature"]) else "signature mismatch"


@dataclass
class SigV4Ledger:
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class RunningSigV4Service:
    url: str
    ledger: SigV4Ledger


@contextmanager
def serve_sigv4(
    secrets_by_key: dict[str, str], service: str = "execute-api", region: str = "us-east-1"
) -> Iterator[RunningSigV4Service]:
    ledger = SigV4Ledger()
    port = free_port()

    async def assess(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        url = f"http://{request.host}{request.path_qs}"
        problem = verify(request.method, url, headers, body, secrets_by_key, service, region)
        with ledger.lock:
            (ledger.rejected if problem else ledger.accepted).append(problem or body.decode())
        if problem is not None:
            return web.json_response({"message": problem}, status=403)
        return web.json_response({"outcome": {"action": "ACCEPT"}})

    app = web.Application()
    app.router.add_post("/api/v2/assess", assess)
    runner = web.AppRunner(app)
    started = threading.Event()
    stop: list[object] = []

    def run() -> None:
        import asyncio

        loop = asyncio.new_event_loop()
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        done = loop.create_future()
        stop.append((loop, done))
        started.set()
        loop.run_until_complete(done)
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the SigV4 service did not start")
    try:
        yield RunningSigV4Service(f"http://127.0.0.1:{port}", ledger)
    finally:
        loop, done = stop[0]  # type: ignore[misc]
        loop.call_soon_threadsafe(done.set_result, None)
        thread.join(timeout=10)
