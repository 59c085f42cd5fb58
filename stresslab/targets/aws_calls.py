"""boto3 calls for the AWS-native target kinds: a bounded thread pool and one error mapping.

boto3 on threads rather than botocore's signer over the lean HTTP client: measured in
docs/targets-aws.md, the SDK's cost per call is what bounds one process, and the pool keeps
every SDK behaviour (credentials refresh, endpoints, event streams) that a hand client would not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome
from stresslab.targets.config import TargetConfigError
from stresslab.targets.template import RenderBody

T = TypeVar("T")
DEFAULT_TIMEOUT_S = 10.0

# Throttles a platform answers with; each counts as http_429 so a scenario sees its limit.
THROTTLES = frozenset({
    "TooManyRequestsException", "ThrottlingException", "Throttling",
    "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "ExecutionLimitExceeded", "RequestThrottled", "KMSThrottlingException",
})


class TargetUnavailable(TargetConfigError):
    """The target's stream, queue or table cannot be used: bad input, one line naming it."""


def client_config(connections: int, timeout: float, endpoint_given: bool = False) -> Config:
    """No SDK retries (a retried throttle would hide the platform's limit from the counts)."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=min(timeout, 5.0), read_timeout=timeout,
        max_pool_connections=max(connections, 1),
    )
    if endpoint_given:
        # StartSyncExecution goes to sync-states.<region>; an emulator on 127.0.0.1 has no
        # prefix (with AWS_ENDPOINT_URL, AWS_DISABLE_HOST_PREFIX_INJECTION says the same)
        config = config.merge(Config(inject_host_prefix=False))
    return config


def aws_client(
    service: str, connections: int, timeout: float, endpoint_url: str | None = None,
    session: Any = None,
) -> Any:
    """A client from the default credential chain and region (AWS_ENDPOINT_URL is honoured)."""
    config = client_config(connections, timeout, endpoint_given=endpoint_url is not None)
    return (session or boto3.session.Session()).client(
        service, config=config, endpoint_url=endpoint_url
    )


def check_usable(
    name: str, call: Callable[[], Any], not_found_only: frozenset[str] | None = None
) -> None:
    """TargetUnavailable naming `name` when the call fails; with `not_found_only`, only when
    it fails with one of those codes (e.g. a role that may invoke but not describe)."""
    try:
        call()
    except ClientError as error:
        code = error_code(error)
        if not_found_only is None or code in not_found_only:
            raise TargetUnavailable(f"{name} cannot be used ({code})") from None
    except Exception as error:  # noqa: BLE001 - unreachable endpoint, no credentials
        raise TargetUnavailable(f"{name} cannot be reached ({error})") from None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def outcome_of_error(error: Exception) -> Outcome:
    """The error class of a failed call; `delivered` False when the request cannot have arrived."""
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in THROTTLES:
            return Outcome("http_429")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status == 429:
            return Outcome("http_429")
        return Outcome("http_5xx" if status >= 500 else "http_4xx")
    if isinstance(error, ReadTimeoutError):
        return Outcome(OUTCOME_TIMEOUT)
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError):
        return Outcome("connect", delivered=False)
    if isinstance(error, BotoCoreError | OSError):
        return Outcome("connect")
    return Outcome("other")


class BoundedCalls:
    """Runs blocking SDK calls on at most `limit` threads, so in-flight calls stay bounded."""

    def __init__(self, limit: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(limit, 1), thread_name_prefix=name)

    async def run(self, call: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: call(*args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


def json_answer(raw: bytes | str | None) -> Outcome:
    try:
        return Outcome(OUTCOME_OK, orjson.loads(raw or b""))
    except orjson.JSONDecodeError:
        return Outcome("invalid_response")


class SyncCallTarget:
    """A Target whose call blocks in the SDK; shared by the two synchronous kinds."""

    def __init__(
        self, client: Any, render: RenderBody | None, max_in_flight: int, timeout: float,
        name: str,
    ) -> None:
        self._client = client
        self._render = render or _dumps
        self._timeout = timeout
        self._calls = BoundedCalls(max_in_flight, name)

    async def __aenter__(self) -> SyncCallTarget:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._calls.close()

    async def send(self, payload: dict[str, Any]) -> Outcome:
        body = self._render(payload)
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._calls.run(self._call, body)
        except TimeoutError:
            return Outcome(OUTCOME_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - every SDK failure is counted by class
            return outcome_of_error(error)
        return self._read(response)

    def _call(self, body: bytes) -> Any:
        raise NotImplementedError

    def _read(self, response: Any) -> Outcome:
        raise NotImplementedError
