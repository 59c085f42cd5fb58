"""The bundled reference service's admin API as the runner uses it: faults, levels, counts.

Every call is side work of a run: a late or lost answer must never end the run. Calls that
are safe to repeat are retried with backoff until a deadline; a fault's POST carries an
idempotency key, so a retry after a lost answer finds the fault it made instead of a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp

from stresslab.scenario.spec import FaultSpec

T = TypeVar("T")
CALL_TIMEOUT_S = 2.0
FIRST_PAUSE_S = 0.1
MAX_PAUSE_S = 1.0


class FaultInjectionFailed(RuntimeError):
    """The target refused, or could not be asked, to inject or clear a fault."""


class AdminUnavailable(FaultInjectionFailed):
    """No usable answer from the admin API in time (refused, reset, stalled, garbage)."""


class AdminRefused(FaultInjectionFailed):
    """The admin API answered, and said no (4xx/5xx); repeating the call will not help
    unless `retryable` (a 5xx or 429)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 429


def describe_error(error: BaseException) -> str:
    """One line, never empty: TimeoutError() has no message of its own."""
    text = str(error).strip().replace("\n", " ")
    name = type(error).__name__
    if isinstance(error, TimeoutError) and not text:
        return "no answer in time (TimeoutError)"
    return f"{text} ({name})" if text and not isinstance(error, FaultInjectionFailed) else (
        text or name)


@dataclass(frozen=True)
class Backoff:
    """Pauses between tries: doubling from `first_s` up to `max_s`, all within `deadline_s`."""

    deadline_s: float
    first_s: float = FIRST_PAUSE_S
    max_s: float = MAX_PAUSE_S

    def pauses(self) -> list[float]:
        pauses, pause, total = [], self.first_s, 0.0
        while total + pause < self.deadline_s:
            pauses.append(pause)
            total += pause
            pause = min(pause * 2, self.max_s)
        return pauses


async def with_retries(
    call: Callable[[], Awaitable[T]], backoff: Backoff,
    *, clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`call()` until it answers, retrying AdminUnavailable and retryable refusals until the
    deadline; the last error is raised."""
    deadline = clock() + backoff.deadline_s
    pauses = iter(backoff.pauses())
    while True:
        try:
            return await call()
        except AdminRefused as refused:
            if not refused.retryable:
                raise
            error: FaultInjectionFailed = refused
        except AdminUnavailable as unavailable:
            error = unavailable
        pause = next(pauses, None)
        if pause is None or clock() + pause >= deadline:
            raise error
        await sleep(pause)


class AdminClient:
    """One request to the admin API at a time per call, with the bearer token."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = CALL_TIMEOUT_S):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer of a 2xx; AdminRefused for other statuses, AdminUnavailable when
        there is no usable answer at all."""
        try:
            async with aiohttp.ClientSession(timeout=self._timeout,
                                             headers=self._headers) as session:
                async with session.request(method, self.base_url + path, json=body,
                                           headers=headers, params=params) as response:
                    payload = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as error:
            raise AdminUnavailable(f"{method} {path}: {describe_error(error)}") from None
        if response.status >= 300:
            detail = payload.get("error") if isinstance(payload, dict) else payload
            raise AdminRefused(f"{method} {path}: HTTP {response.status} {detail}",
                               response.status)
        return payload


class ReferenceTargetFaults:
    """FaultInjector for the reference service: POST/DELETE /admin/faults, retried safely."""

    def __init__(self, admin: AdminClient, deadline_s: float = 4.0) -> None:
        self._admin = admin
        self._backoff = Backoff(deadline_s)

    async def inject(self, fault: FaultSpec, key: str, duration_s: float | None = None) -> str:
        """The fault id; the same `key` on every try, so the service makes it once."""
        body: dict[str, Any] = {
            "type": fault.type, "intensity": fault.intensity,
            "duration_s": fault.duration if duration_s is None else duration_s,
        }
        if fault.target:
            body["agent"] = fault.target

        async def post() -> Any:
            return await self._admin.call("POST", "/admin/faults", body,
                                          headers={"Idempotency-Key": key})

        answer = await with_retries(post, self._backoff)
        try:
            return str(answer["fault_id"])
        except (KeyError, TypeError):
            raise AdminUnavailable(f"POST /admin/faults: no fault_id in {answer!r:.80}") from None

    async def clear(self, fault_id: str, deadline_s: float | None = None) -> None:
        """DELETE is idempotent: retried; a 404 means it is already gone (expired)."""
        async def delete() -> None:
            try:
                await self._admin.call("DELETE", f"/admin/faults/{fault_id}")
            except AdminRefused as refused:
                if refused.status != 404:
                    raise

        backoff = self._backoff if deadline_s is None else Backoff(deadline_s)
        await with_retries(delete, backoff)

    async def clear_all(self, deadline_s: float | None = None) -> None:
        async def delete() -> None:
            await self._admin.call("DELETE", "/admin/faults")

        backoff = self._backoff if deadline_s is None else Backoff(deadline_s)
        await with_retries(delete, backoff)
