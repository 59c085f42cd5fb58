"""A shaped HTTP sender over aiohttp: template, auth, mapping and masking put together.

For `stresslab probe` and the tests against foreign services; the load path (targets/http.py)
takes the same pieces into its own lean client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from stresslab.ports import Clock, RealClock
from stresslab.targets.auth import (
    REFUSED_MESSAGE,
    AuthError,
    AuthRefusals,
    ClientCredentialsToken,
    RequestSigner,
    SigV4Signer,
    aiohttp_token_fetcher,
    default_aws_credentials,
    host_header,
    static_headers,
    tls_context,
)
from stresslab.targets.config import BearerAuth, HttpTarget, RequestTemplate, SigV4Auth
from stresslab.targets.response import INVALID_RESPONSE, InvalidSamples, ReadAnswer, ResponseReader
from stresslab.targets.secrets import Secrets
from stresslab.targets.template import RenderBody, compile_body

DEFAULT_TIMEOUT_S = 10.0


class CredentialsRefused(RuntimeError):
    """Too many consecutive 401/403 answers: the run stops rather than hammer the platform."""

    def __init__(self) -> None:
        super().__init__(REFUSED_MESSAGE)


@dataclass
class Exchange:
    """One request as sent and what came back."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    answer: bytes = b""
    read: ReadAnswer | None = None
    error: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """ok, an error class (http_401, connect, …) or invalid_response."""
        if self.error is not None:
            return self.error
        if self.read is None:
            return f"http_{self.status}"
        return "ok" if self.read.valid else INVALID_RESPONSE


class ShapedSender:
    """Sends transactions as the target section says and reads the answers."""

    def __init__(
        self, target: HttpTarget, session: aiohttp.ClientSession, secrets: Secrets,
        signer: RequestSigner | None = None, refusals: AuthRefusals | None = None,
        render: RenderBody | None = None,
    ) -> None:
        self._target = target
        self._url = secrets.resolve(target.url, encode=lambda value: quote(value, safe=""))
        self._session = session
        self._secrets = secrets
        self._signer = signer
        self._render = render or body_renderer(target.request, secrets)
        self._headers = {
            "Content-Type": "application/json", "Accept": "application/json",
            **static_headers(target, secrets),
        }
        self._reader = ResponseReader(target.response)
        self._timeout = aiohttp.ClientTimeout(total=target.timeout or DEFAULT_TIMEOUT_S)
        self.refusals = refusals or AuthRefusals()
        self._settled = asyncio.Event()
        self.invalid = InvalidSamples(mask=secrets.masker.mask)

    async def send(self, transaction: Mapping[str, Any]) -> Exchange:
        await self._admitted()
        counted = self.refusals.admit()
        status: int | None = None
        try:
            exchange = await self._exchange(transaction)
            status = exchange.status
        finally:
            self.refusals.settle(counted, status)
            settled, self._settled = self._settled, asyncio.Event()
            settled.set()  # wakes the requests waiting for an answer to the credentials
        self._judge(exchange)
        return exchange

    async def _admitted(self) -> None:
        """Wait while unconfirmed credentials have as many requests out as refusals allow."""
        while not self.refusals.may_send():
            if self.refusals.should_abort:
                raise CredentialsRefused()
            await self._settled.wait()

    async def _exchange(self, transaction: Mapping[str, Any]) -> Exchange:
        body = self._render(transaction)
        url, method = self._url, self._target.method
        headers = {**self._headers, "Host": host_header(url)}
        if self._signer is not None:
            headers |= await self._signer.headers_for(method, url, headers, body)
        exchange = Exchange(method, url, headers, body)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=self._timeout
            ) as answer:
                exchange.status = answer.status
                exchange.answer = await answer.read()
        except TimeoutError:
            exchange.error = "timeout"
            return exchange
        except aiohttp.ClientSSLError:
            exchange.error = "tls"
            exchange.problems.append("TLS handshake failed (certificate or CA)")
            return exchange
        except aiohttp.ClientError:
            exchange.error = "connect"
        return exchange

    def _judge(self, exchange: Exchange) -> None:
        if exchange.status is None:
            return
        if self.refusals.should_abort and exchange.status in (401, 403):
            exchange.problems.append(REFUSED_MESSAGE)
        elif exchange.status in (401, 403):
            exchange.problems.append(f"auth refused ({exchange.status})")
        if not self._reader.is_success(exchange.status):
            return
        try:
            answer = orjson.loads(exchange.answer)
        except orjson.JSONDecodeError:
            exchange.read = ReadAnswer(INVALID_RESPONSE, None, "the answer is not JSON")
        else:
            exchange.read = self._reader.read(answer)
        if exchange.read.problem is not None:
            exchange.problems.append(exchange.read.problem)
            self.invalid.offer(exchange.answer, exchange.read.problem)

    def describe(self, exchange: Exchange) -> list[str]:
        """What probe prints for one exchange: request as sent, status, answer, decision; masked."""
        mask = self._secrets.masker.mask
        lines = [f"> {exchange.method} {exchange.url}"]
        lines += [f"> {name}: {value}" for name, value in exchange.headers.items()]
        lines.append(f"> {exchange.body.decode('utf-8', errors='replace')}")
        if exchange.status is not None:
            lines.append(f"< {exchange.status}")
            lines.append(f"< {exchange.answer[:2000].decode('utf-8', errors='replace')}")
        if exchange.read is not None and exchange.read.valid:
            lines.append(f"= {exchange.read.decision}")
        lines += [f"! {problem}" for problem in exchange.problems]
        if exchange.error is not None and not exchange.problems:
            lines.append(f"! {exchange.error}")
        return [mask(line) for line in lines]


def body_renderer(request: RequestTemplate, secrets: Secrets) -> RenderBody:
    """The body template with its secret references resolved, compiled once; or the transaction."""
    if request.body is None:
        return orjson.dumps
    return compile_body(request.body, literal=secrets.resolve)


@asynccontextmanager
async def open_sender(
    target: HttpTarget, secrets: Secrets, clock: Clock | None = None,
    aws_credentials: Any = None, refusals: AuthRefusals | None = None,
) -> AsyncIterator[ShapedSender]:
    """A sender with its own connection pool, TLS context and auth; closed on exit."""
    connector = aiohttp.TCPConnector(ssl=tls_context(target) or True)
    async with aiohttp.ClientSession(connector=connector) as session:
        signer: RequestSigner | None = None
        auth = target.auth
        if isinstance(auth, BearerAuth) and auth.is_client_credentials:
            signer = ClientCredentialsToken(
                aiohttp_token_fetcher(session, auth, secrets, timeout=target.timeout or 10.0),
                clock or RealClock(), on_token=secrets.add_derived,
            )
        elif isinstance(auth, SigV4Auth):
            credentials = aws_credentials or default_aws_credentials()
            signer = SigV4Signer(auth, credentials, on_secret=secrets.add_derived)
        yield ShapedSender(target, session, secrets, signer, refusals)


__all__ = ["AuthError", "CredentialsRefused", "Exchange", "ShapedSender", "open_sender"]
