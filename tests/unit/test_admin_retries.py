"""Retries of the runner's side work: backoff within a deadline, on a fake clock."""

from __future__ import annotations

from typing import Any

import pytest

from stresslab.local.faults import (
    AdminRefused,
    AdminUnavailable,
    Backoff,
    describe_error,
    with_retries,
)
from tests.fakes import FakeClock


class Flaky:
    """Fails with the given errors in turn, then answers 'ok'."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def fake_time() -> tuple[FakeClock, list[float], Any]:
    clock = FakeClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    return clock, slept, sleep


def test_pauses_double_up_to_a_cap_and_stay_within_the_deadline() -> None:
    assert Backoff(4.0).pauses() == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert sum(Backoff(4.0).pauses()) < 4.0
    assert Backoff(0.05).pauses() == []


async def test_an_unavailable_api_is_retried_until_it_answers() -> None:
    clock, slept, sleep = fake_time()
    call = Flaky(AdminUnavailable("reset"), AdminUnavailable("stalled"))
    assert await with_retries(call, Backoff(4.0), clock=clock.now, sleep=sleep) == "ok"
    assert call.calls == 3 and slept == [0.1, 0.2]


async def test_the_last_error_is_raised_at_the_deadline() -> None:
    clock, slept, sleep = fake_time()
    call = Flaky(*(AdminUnavailable(f"try {n}") for n in range(100)))
    with pytest.raises(AdminUnavailable, match="try 6"):
        await with_retries(call, Backoff(4.0), clock=clock.now, sleep=sleep)
    assert sum(slept) < 4.0


async def test_a_refusal_is_not_retried_unless_the_service_is_busy() -> None:
    clock, _, sleep = fake_time()
    refused = Flaky(AdminRefused("HTTP 409 faults: at most 16", 409))
    with pytest.raises(AdminRefused):
        await with_retries(refused, Backoff(4.0), clock=clock.now, sleep=sleep)
    assert refused.calls == 1
    busy = Flaky(AdminRefused("HTTP 503", 503), AdminRefused("HTTP 429", 429))
    assert await with_retries(busy, Backoff(4.0), clock=clock.now, sleep=sleep) == "ok"


def test_an_error_is_described_in_one_line_never_empty() -> None:
    assert describe_error(TimeoutError()) == "no answer in time (TimeoutError)"
    assert describe_error(ConnectionResetError()) == "ConnectionResetError"
    assert describe_error(OSError("disk\nfull")) == "disk full (OSError)"
    assert describe_error(AdminUnavailable("GET /admin/stats: reset")) == (
        "GET /admin/stats: reset")
