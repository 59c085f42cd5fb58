"""The Lambda runtime of the emulation: each handler in-process, invoked like Lambda (event,
context), inside its own function's environment for the length of the invocation."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .account import Account, Function
from .template import ROOT

_INVOCATION_ENV: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "lambda_environment", default=None)
# What a Lambda process inherits besides its function's variables.
_HOST_KEEPS = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONPATH")


class InvocationEnviron(MutableMapping[str, str]):
    """os.environ as code sees it: the host's, except inside an invocation, where it is the
    function's environment alone (as in its own Lambda sandbox), so a variable the template does
    not give the function is missing here too."""

    def __init__(self, host: MutableMapping[str, str]) -> None:
        self.host = host

    def _current(self) -> MutableMapping[str, str]:
        overlay = _INVOCATION_ENV.get()
        return self.host if overlay is None else overlay

    def __getitem__(self, key: str) -> str:
        return self._current()[key]

    def __setitem__(self, key: str, value: str) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def copy(self) -> dict[str, str]:
        return dict(self._current())


def install_invocation_environ() -> InvocationEnviron:
    """Once per process, before boto3 builds a session (botocore keeps a reference to it)."""
    if isinstance(os.environ, InvocationEnviron):
        return os.environ
    layered = InvocationEnviron(os.environ)
    os.environ = layered  # type: ignore[assignment]  # noqa: B003 - kept, only layered
    return layered


@contextlib.contextmanager
def function_environment(variables: dict[str, str]) -> Iterator[None]:
    token = _INVOCATION_ENV.set(dict(variables))
    try:
        yield
    finally:
        _INVOCATION_ENV.reset(token)


@dataclass
class LambdaContext:
    """The context object Lambda passes: names, memory, request id, time left."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self._started)) * 1000))


Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class Invocation:
    function: str
    outcome: str
    seconds: float
    ended_at: float = field(default_factory=time.monotonic)  # this host's monotonic clock


class LambdaRuntime:
    """Invokes the template's functions: the handler named by its Handler property, with the
    environment its Environment property gives (resolved) plus what Lambda itself sets."""

    def __init__(self, account: Account, runtime_env: dict[str, str],
                 additions: Callable[[Function], dict[str, str]] | None = None,
                 isolated: frozenset[str] = frozenset(), workdir: Path | None = None) -> None:
        self.account = account
        self.runtime_env = runtime_env
        self._additions = additions or (lambda function: {})
        # Handlers run each invocation in a process of its own, with the function's
        # environment as the process's (as Lambda gives each its own sandbox).
        self.isolated = isolated
        self._workdir = workdir or Path(tempfile.gettempdir())
        self.invocations: list[Invocation] = []
        # logical id -> invocations under way (read-only for tests: who is still running)
        self.running: dict[str, int] = {}
        self._lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}

    def environment_of(self, function: Function) -> dict[str, str]:
        host = {k: v for k, v in os.environ.items() if k in _HOST_KEEPS} \
            if not isinstance(os.environ, InvocationEnviron) else \
            {k: v for k, v in os.environ.host.items() if k in _HOST_KEEPS}
        return {
            **host, **self.runtime_env,
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            **function.environment,
            **self._additions(function),
        }

    def handler_of(self, function: Function) -> Handler:
        if function.logical_id not in self._handlers:
            module_name, _, attribute = function.handler.rpartition(".")
            if not module_name.startswith("lambdas."):
                raise ImportError(f"{function.handler} is not emulated (not in lambdas/)")
            module = importlib.import_module(module_name)
            self._handlers[function.logical_id] = getattr(module, attribute)
        return self._handlers[function.logical_id]

    def override(self, logical_id: str, handler: Handler) -> None:
        """A test's stand-in for one function (e.g. a crashing generator)."""
        self._handlers[logical_id] = handler

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """The handler's result; what it raised propagates (the caller makes it Lambda's
        function error, keeping the error's type for the state machine's Retry and Catch)."""
        function = (self.account.functions[name] if name in self.account.functions
                    else self.account.function_by_name(name))
        context = LambdaContext(function.name, function.arn, function.memory_mb,
                                function.timeout_s)
        started = time.monotonic()
        with self._lock:
            self.running[function.logical_id] = self.running.get(function.logical_id, 0) + 1
        try:
            if function.handler in self.isolated:
                return self._invoke_in_sandbox(function, event, started)
            with function_environment(self.environment_of(function)):
                try:
                    result = self.handler_of(function)(event, context)
                except Exception as error:
                    self._record(function, f"{type(error).__name__}: {error}", started)
                    raise
            self._record(function, "ok", started)
            return result
        finally:
            with self._lock:
                self.running[function.logical_id] -= 1

    def _invoke_in_sandbox(self, function: Function, event: dict[str, Any],
                           started: float) -> Any:
        environment = {**self.environment_of(function), "PYTHONPATH": str(ROOT)}
        with tempfile.NamedTemporaryFile("r", suffix=".json", dir=self._workdir) as result:
            process = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "tests.emulation.sandbox", function.handler,
                 function.name, function.arn, str(function.memory_mb),
                 str(function.timeout_s), result.name],
                input=json.dumps(event), text=True, env=environment, cwd=ROOT,
                timeout=function.timeout_s + 30, check=False)
            answer = json.loads(result.read() or "{}")
        if process.returncode == 0 and "result" in answer:
            self._record(function, "ok", started)
            return answer["result"]
        error_type = str(answer.get("errorType") or "Runtime.ExitError")
        message = str(answer.get("errorMessage") or f"exit status {process.returncode}")
        self._record(function, f"{error_type}: {message}", started)
        # Same name as the handler's exception, for the state machine's Retry and Catch.
        raise type(error_type.replace(".", "_"), (RuntimeError,), {})(message)

    def _record(self, function: Function, outcome: str, started: float) -> None:
        with self._lock:
            self.invocations.append(Invocation(function.logical_id, outcome,
                                               time.monotonic() - started))

    def forget_cold_starts(self) -> None:
        """Clear what handler modules cached at cold start (settings, clients), so they are
        built again inside this emulation (a test session may run several)."""
        from stresslab.aws import clients

        clients.client.cache_clear()
        for function in self.account.functions.values():
            # Only modules already loaded: importing here, outside an invocation, would build
            # their module-level objects (logger level, metrics namespace) from the host's env.
            module = sys.modules.get(function.handler.rpartition(".")[0])
            if module is None:
                continue
            for value in vars(module).values():
                if hasattr(value, "cache_clear") and callable(value.cache_clear):
                    value.cache_clear()
