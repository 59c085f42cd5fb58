"""`stresslab probe`: send a few transactions to the target and show what was sent and read."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import yaml

from stresslab.generation.transactions import TransactionFactory
from stresslab.scenario.spec import (
    MAX_SCENARIO_BYTES,
    SCENARIOS_DIR,
    ScenarioError,
    ScenarioSpec,
    load_scenario,
    parse_scenario,
)
from stresslab.targets.auth import REFUSED_MESSAGE, AuthError, AuthRefusals
from stresslab.targets.config import HttpTarget, MtlsAuth, TargetConfigError
from stresslab.targets.secrets import SecretError, Secrets, environment_resolver
from stresslab.targets.section import parse_target
from stresslab.targets.sender import (
    DEFAULT_TIMEOUT_S,
    CredentialsRefused,
    Exchange,
    ShapedSender,
    open_sender,
)

EXIT_MAPPED = 0
EXIT_NOT_MAPPED = 1
PROBE_RUN_ID = "probe"
REFERENCE_NAME = "reference service — simulated agents"
TOP_KEYS_SHOWN = 12
_SCENARIO_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


class ProbeInputError(ValueError):
    """A scenario, target section or secret that cannot be probed. The message is one line."""


@dataclass(frozen=True)
class ProbePlan:
    """What to probe: the scenario (mix, seed) and its target; None = the reference service."""

    spec: ScenarioSpec
    section: dict[str, Any] | None
    target_url: str | None

    @property
    def uses_reference(self) -> bool:
        return self.section is None and self.target_url is None

    def target(self, reference_url: str | None = None) -> HttpTarget:
        """The target as the run would reach it; --target replaces the section's url."""
        try:
            if self.section is not None:
                section = dict(self.section)
                if self.target_url is not None:
                    section["url"] = self.target_url
                target = parse_target(section)
            else:
                url = self.target_url or reference_url
                assert url is not None, "the reference service's URL, or --target"
                target = parse_target({
                    "url": url, "timeout": self.spec.http.timeout,
                    "response": {"decision": self.spec.response.decision_field},
                })
        except TargetConfigError as error:
            raise ProbeInputError(str(error)) from None
        if not isinstance(target, HttpTarget):
            raise ProbeInputError(
                f"target.kind: probe sends to http targets; {target.kind!r} is not one yet"
            )
        return target


def plan_probe(scenario: str, target_url: str | None = None) -> ProbePlan:
    """The scenario and its `target:` section read apart, each checked (ScenarioError, one line)."""
    path = _scenario_file(scenario)
    if path is None:
        return ProbePlan(load_scenario(scenario), None, target_url)  # names what is unknown
    data = _read_yaml(path)
    section = data.pop("target", None) if isinstance(data, dict) else None
    spec = parse_scenario(data, str(path))
    if section is not None and not isinstance(section, dict):
        raise ScenarioError(f"{path}: target: expected a mapping with kind, url, …")
    return ProbePlan(spec, section, target_url)


def _scenario_file(scenario: str) -> Path | None:
    path = Path(scenario)
    if path.suffix or path.exists():
        return path
    named = SCENARIOS_DIR / f"{scenario}.yaml"
    return named if _SCENARIO_NAME.fullmatch(scenario) and named.exists() else None


def _read_yaml(path: Path) -> Any:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SCENARIO_BYTES + 1)
    except OSError as error:
        raise ScenarioError(f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: larger than {MAX_SCENARIO_BYTES // 1024} KiB")
    try:
        return yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except (yaml.YAMLError, RecursionError):
        raise ScenarioError(f"{path}: malformed YAML") from None


# -- what went wrong, one line each -----------------------------------------------------------


def diagnose(exchange: Exchange, target: HttpTarget) -> list[str]:
    """The exchange's problems in words a user can act on."""
    if exchange.error == "tls":
        return [_tls_problem(exchange.cause)]
    if exchange.error == "timeout":
        return [f"timeout: no answer within {target.timeout or DEFAULT_TIMEOUT_S:g}s "
                "(target.timeout)"]
    if exchange.error == "connect":
        return [_connect_problem(exchange.cause, exchange.url, isinstance(target.auth, MtlsAuth))]
    problems: list[str] = []
    for problem in exchange.problems:
        if problem.startswith("auth refused"):
            problem += ": the target does not accept our credentials (check auth and headers)"
        elif problem.startswith(("decision path", "score path")):
            problem += f"; the answer's top keys: {_top_keys(exchange.answer)}"
        problems.append(problem)
    if exchange.status is not None and exchange.read is None and not problems:
        problems.append(f"status {exchange.status} is not a success "
                        "(response.success_statuses), so no decision was read")
    return problems


def _top_keys(answer: bytes) -> str:
    try:
        document = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return "none (not JSON)"
    if not isinstance(document, dict):
        return f"none (the answer is a JSON {type(document).__name__})"
    keys = list(document)
    shown = ", ".join(keys[:TOP_KEYS_SHOWN]) or "none (empty object)"
    return shown + (f" (and {len(keys) - TOP_KEYS_SHOWN} more)" if len(keys) > TOP_KEYS_SHOWN
                    else "")


def _tls_problem(cause: BaseException | None) -> str:
    if isinstance(cause, aiohttp.ClientConnectorCertificateError):
        reason = cause.certificate_error
        message = getattr(reason, "verify_message", None) or str(reason)
        if "issuer" in message or "self-signed" in message or "self signed" in message:
            return (f"TLS failure: the server's certificate is from an unknown CA ({message}); "
                    "add its CA with target.ca_file")
        return f"TLS failure: certificate verification failed ({message})"
    text = str(cause or "")
    if any(alert in text for alert in ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA",
                                       "certificate required", "bad certificate")):
        return f"TLS failure: the server refused our client certificate (target.auth mtls): {text}"
    return f"TLS failure: the handshake failed ({text or 'no detail'})"


def _connect_problem(cause: BaseException | None, url: str, client_certificate: bool) -> str:
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    os_error = getattr(cause, "os_error", None)
    if isinstance(os_error, ConnectionRefusedError):
        return f"connection refused: nothing listens at {where}"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"cannot connect to {where}: {getattr(os_error, 'strerror', None) or cause}"
    if "alert" in str(cause):
        return _tls_problem(cause)
    if client_certificate and isinstance(
        cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
    ):
        # TLS 1.3 checks the client's certificate after the handshake: a server that refuses
        # it often just closes the connection, so no alert reaches us to quote
        return (f"TLS failure: {where} closed the connection without answering; it most likely "
                "refused our client certificate (target.auth mtls: is it issued by a CA the "
                "server trusts?)")
    return f"the connection to {where} failed: {type(cause).__name__ if cause else 'closed'}"


# -- sending ------------------------------------------------------------------------------------


@dataclass
class ProbeOutcome:
    probes: int = 0
    mapped: int = 0
    refused: bool = False

    @property
    def exit_code(self) -> int:
        every = self.probes > 0 and self.mapped == self.probes and not self.refused
        return EXIT_MAPPED if every else EXIT_NOT_MAPPED


async def probe(
    plan: ProbePlan, count: int, secrets: Secrets, say: Callable[[str], None],
    reference_url: str | None = None,
) -> ProbeOutcome:
    """Send `count` transactions one after another and say what happened to each."""
    target = plan.target(reference_url)
    spec = plan.spec
    name = REFERENCE_NAME if reference_url is not None else f"{spec.name} ({target.kind})"
    factory = TransactionFactory(PROBE_RUN_ID, spec.seed, 0, spec.mix)
    outcome = ProbeOutcome()
    async with _sender(target, secrets) as sender:
        say(f"probe: {count} transaction{'s' * (count != 1)} from {spec.name} "
            f"(seed {spec.seed}) to {name}")
        for number in range(1, count + 1):
            generated = factory.next(time.time())
            say(f"-- {number}/{count}  {generated.transaction_id}  "
                f"(ground truth: {generated.label.category}, {generated.label.pattern})")
            try:
                exchange = await sender.send(generated.payload)
            except CredentialsRefused:
                outcome.refused = True
                say(f"! {REFUSED_MESSAGE}: stopped after {number - 1} refused requests")
                break
            outcome.probes += 1
            outcome.mapped += exchange.read is not None and exchange.read.valid
            exchange.problems = diagnose(exchange, target)
            for line in sender.describe(exchange):
                say(line)
    unmapped = outcome.probes - outcome.mapped
    say(f"probe: {outcome.mapped} of {count} mapped to a decision"
        + (f", {unmapped} not" if unmapped else "")
        + (f"; {REFUSED_MESSAGE}" if outcome.refused else ""))
    return outcome


@contextlib.asynccontextmanager
async def _sender(target: HttpTarget, secrets: Secrets) -> AsyncIterator[ShapedSender]:
    try:
        async with open_sender(target, secrets, refusals=AuthRefusals()) as sender:
            yield sender
    except (TargetConfigError, SecretError, AuthError) as error:
        raise ProbeInputError(str(error)) from None


def run_probe(
    scenario: str, count: int, target_url: str | None, say: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
) -> int:
    """The command: read, check, start the reference service when it is the target, probe."""
    plan = plan_probe(scenario, target_url)
    plan.target("http://127.0.0.1/v1/score" if plan.uses_reference else None)  # check first
    secrets = Secrets(environment_resolver(dict(os.environ if environ is None else environ)))

    async def main() -> int:
        if not plan.uses_reference:
            return (await probe(plan, count, secrets, say)).exit_code
        from stresslab.local.reference_process import ReferenceService

        reference = await ReferenceService.start()
        try:
            outcome = await probe(plan, count, secrets, say, reference.score_url)
        finally:
            await reference.stop()
        return outcome.exit_code

    return asyncio.run(main())
