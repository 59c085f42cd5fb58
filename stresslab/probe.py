"""`stresslab probe`: send a few transactions as a run would and show what was sent and read.

The request goes through the run's own HTTP target (targets/factory.py prepares it, the lean
client in targets/http.py sends it), so the bytes printed are the bytes a run puts on the wire.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from stresslab.generation.transactions import TransactionFactory
from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome
from stresslab.scenario.spec import ScenarioSpec, load_scenario
from stresslab.targets.auth import AuthRefusals
from stresslab.targets.config import HttpTarget as HttpSection
from stresslab.targets.config import MtlsAuth, ResponseMapping, TargetConfigError
from stresslab.targets.factory import (
    TARGET_SETUP_ERRORS,
    TargetContext,
    _signer,
    check_target,
    prepare_http,
    with_target_url,
)
from stresslab.targets.http import OUTCOME_OVERSIZED, HttpTarget
from stresslab.targets.response import ReadAnswer, ResponseReader
from stresslab.targets.secrets import Secrets, environment_resolver

EXIT_MAPPED = 0
EXIT_NOT_MAPPED = 1
PROBE_RUN_ID = "probe"
REFERENCE_NAME = "reference service — simulated agents"
ANSWER_CHARS = 2000
TOP_KEYS_SHOWN = 12


class ProbeInputError(ValueError):
    """A scenario, target section or secret that cannot be probed. The message is one line."""


class RecordingTarget(HttpTarget):
    """The run's HTTP target, keeping the last request's bytes and the answer's status and body."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = b""
        self.status: int | None = None
        self.answer = b""

    async def _request_bytes(self, payload: Mapping[str, Any]) -> bytes:
        self.request, self.status, self.answer = await super()._request_bytes(payload), None, b""
        return self.request

    def _judge(self, status: int, answer: bytes) -> Outcome:
        self.status, self.answer = status, answer
        return super()._judge(status, answer)


@dataclass
class Probed:
    """One transaction's trip: the request as sent, what came back, the decision as mapped."""

    request: bytes
    outcome: Outcome
    status: int | None = None
    answer: bytes = b""
    read: ReadAnswer | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> bool:
        return self.read is not None and self.read.valid

    def lines(self, mask: Callable[[str], str]) -> list[str]:
        """What probe prints for it, every line masked."""
        head, _, body = self.request.partition(b"\r\n\r\n")
        lines = [f"> {line}" for line in head.decode("latin-1").split("\r\n") if line]
        lines.append(f"> {body.decode('utf-8', errors='replace')}")
        if self.status is not None:
            answer = self.answer.decode("utf-8", errors="replace")
            cut = f"… ({len(answer)} chars)" if len(answer) > ANSWER_CHARS else ""
            lines += [f"< {self.status}", f"< {answer[:ANSWER_CHARS]}{cut}"]
        if self.mapped:
            assert self.read is not None
            lines.append(f"= {self.read.decision}")
        lines += [f"! {problem}" for problem in self.problems]
        return [mask(line) for line in lines]


@dataclass(frozen=True)
class ProbePlan:
    """The scenario (its mix and seed) and the target the run would send to."""

    spec: ScenarioSpec
    target_url: str | None  # --target; without it and without a section: the reference service

    @property
    def uses_reference(self) -> bool:
        return self.spec.target is None and self.target_url is None

    @property
    def section(self) -> HttpSection | None:
        section = self.spec.target
        if section is not None and not isinstance(section, HttpSection):
            raise ProbeInputError(
                f"target.kind: probe sends to http targets; {section.kind} is not one yet"
            )
        return section


def plan_probe(scenario: str, target_url: str | None, environ: Mapping[str, str]) -> ProbePlan:
    """The scenario with --target applied; its secrets, files and credentials checked."""
    spec = load_scenario(scenario)
    try:
        spec = with_target_url(spec, target_url)
        plan = ProbePlan(spec, target_url)
        if plan.section is not None:
            check_target(spec, environ)
    except TARGET_SETUP_ERRORS as error:
        raise ProbeInputError(str(error)) from None
    return plan


# -- what went wrong, one line each -----------------------------------------------------------


def judge(probed: Probed, reader: ResponseReader, timeout: float) -> None:
    """The decision as mapped, and the exchange's problems in words a user can act on."""
    outcome, status = probed.outcome, probed.status
    if status in (401, 403):
        probed.problems.append(f"auth refused ({status}): the target does not accept our "
                               "credentials (check auth and headers)")
    elif outcome.kind == OUTCOME_TIMEOUT:
        probed.problems.append(f"timeout: no answer within {timeout:g}s (target.timeout)")
    elif outcome.kind == OUTCOME_OVERSIZED:
        probed.problems.append("the answer is larger than http.max_body_bytes")
    elif status is not None and not reader.is_success(status):
        probed.problems.append(f"status {status} is not a success (response.success_statuses), "
                               "so no decision was read")
    elif status is not None and outcome.kind != OUTCOME_OK:
        probed.problems.append("the answer is not JSON")
    elif outcome.kind == OUTCOME_OK:
        probed.read = reader.read(outcome.body)
        problem = probed.read.problem
        if problem is not None and problem.startswith(("decision path", "score path")):
            problem += f"; the answer's top keys: {_top_keys(outcome.body)}"
        if problem is not None:
            probed.problems.append(problem)


def _top_keys(answer: Any) -> str:
    if not isinstance(answer, dict):
        return f"none (the answer is a JSON {type(answer).__name__})"
    keys = [str(key) for key in answer]
    shown = ", ".join(keys[:TOP_KEYS_SHOWN]) or "none (empty object)"
    more = len(keys) - TOP_KEYS_SHOWN
    return shown + (f" (and {more} more)" if more > 0 else "")


async def why_no_answer(url: str, tls: ssl.SSLContext | None, mtls: bool, timeout: float) -> str:
    """A request that ended without an answer: connect once more, alone, to say why."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{host}:{port}"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None), timeout)
    except ConnectionRefusedError:
        return f"connection refused: nothing listens at {where}"
    except ssl.SSLCertVerificationError as error:
        message = error.verify_message or str(error)
        if "issuer" in message or "self-signed" in message or "self signed" in message:
            return (f"TLS failure: the server's certificate is from an unknown CA ({message}); "
                    "add its CA with target.ca_file")
        return f"TLS failure: certificate verification failed ({message})"
    except ssl.SSLError as error:
        reason = error.reason or str(error)
        if "CERTIFICATE" in reason.upper() or "UNKNOWN_CA" in reason.upper():
            return f"TLS failure: the server refused our client certificate ({reason})"
        return f"TLS failure: the handshake failed ({reason})"
    except TimeoutError:
        return f"no connection to {where} within {timeout:g}s"
    except OSError as error:
        return f"cannot connect to {where}: {error.strerror or type(error).__name__}"
    writer.close()
    if mtls:
        # TLS 1.3 checks the client's certificate after the handshake: a server that refuses
        # it often just closes the connection, so no alert reaches us to quote
        return (f"TLS failure: {where} closed the connection without answering; it most likely "
                "refused our client certificate (target.auth mtls: is it issued by a CA the "
                "server trusts?)")
    return f"the connection to {where} was closed before an answer"


# -- sending ------------------------------------------------------------------------------------


@dataclass
class ProbeOutcome:
    probes: int = 0
    mapped: int = 0
    refused: str | None = None

    @property
    def exit_code(self) -> int:
        every = self.probes > 0 and self.mapped == self.probes and self.refused is None
        return EXIT_MAPPED if every else EXIT_NOT_MAPPED


@dataclass
class _Opened:
    target: RecordingTarget
    reader: ResponseReader
    tls: ssl.SSLContext | None
    mtls: bool
    timeout: float
    refusals: list[str]


@asynccontextmanager
async def _open(plan: ProbePlan, secrets: Secrets, url: str | None) -> AsyncIterator[_Opened]:
    """The run's target for the section (or the plain JSON POST), recording what it sends."""
    spec, section = plan.spec, plan.section
    refused: list[str] = []
    if section is None:
        assert url is not None, "the reference service's URL, or --target"
        reader = ResponseReader(ResponseMapping(decision=spec.response.decision_field))
        plain = RecordingTarget(url, spec.http)
        async with plain:
            yield _Opened(plain, reader, None, False, spec.http.timeout, refused)
        return
    context = TargetContext(settings=spec.http, secrets=secrets, on_refused=refused.append)
    try:
        prepared = prepare_http(section, secrets)
    except TARGET_SETUP_ERRORS as error:
        raise ProbeInputError(str(error)) from None
    async with AsyncExitStack() as stack:
        signer = await _signer(section, context, prepared, stack)
        shape = replace(prepared.shape, signer=signer, refusals=AuthRefusals(),
                        on_refused=refused.append)
        target = RecordingTarget(prepared.url, spec.http, shape=shape)
        await stack.enter_async_context(target)
        yield _Opened(target, ResponseReader(section.response), prepared.shape.tls,
                      isinstance(section.auth, MtlsAuth),
                      prepared.shape.timeout or spec.http.timeout, refused)


async def probe(
    plan: ProbePlan, count: int, secrets: Secrets, say: Callable[[str], None],
    reference_url: str | None = None,
) -> ProbeOutcome:
    """Send `count` transactions one after another and say what happened to each."""
    spec = plan.spec
    section = plan.section
    name = REFERENCE_NAME if reference_url is not None else (
        f"{spec.name} ({section.kind})" if section is not None else plan.target_url)
    factory = TransactionFactory(PROBE_RUN_ID, spec.seed, 0, spec.mix)
    outcome = ProbeOutcome()
    mask = secrets.masker.mask
    async with _open(plan, secrets, plan.target_url or reference_url) as opened:
        target = opened.target
        say(mask(f"probe: {count} transaction{'s' * (count != 1)} from {spec.name} "
                 f"(seed {spec.seed}) to {name} at {target.url}"))
        for number in range(1, count + 1):
            generated = factory.next(time.time())
            say(f"-- {number}/{count}  {generated.transaction_id}  "
                f"(ground truth: {generated.label.category}, {generated.label.pattern})")
            sent = await target.send(generated.payload)
            probed = Probed(target.request, sent, target.status, target.answer)
            judge(probed, opened.reader, opened.timeout)
            if probed.status is None and sent.kind not in (OUTCOME_TIMEOUT, OUTCOME_OVERSIZED):
                probed.problems.append(await why_no_answer(
                    target.url, opened.tls, opened.mtls, opened.timeout))
            outcome.probes += 1
            outcome.mapped += probed.mapped
            for line in probed.lines(mask):
                say(line)
            if opened.refusals:  # as many refusals in a row as a run takes before it aborts
                outcome.refused = opened.refusals[0]
                say(mask(f"! {outcome.refused}: stopped, nothing more sent"))
                break
    unmapped = outcome.probes - outcome.mapped
    say(mask(f"probe: {outcome.mapped} of {count} mapped to a decision"
             + (f", {unmapped} not" if unmapped else "")
             + (f"; {outcome.refused}" if outcome.refused else "")))
    return outcome


def run_probe(
    scenario: str, count: int, target_url: str | None, say: Callable[[str], None],
    environ: Mapping[str, str] | None = None,
) -> int:
    """The command: read, check, start the reference service when it is the target, probe."""
    environ = os.environ if environ is None else environ
    plan = plan_probe(scenario, target_url, environ)
    secrets = Secrets(environment_resolver(dict(environ)))

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

    try:
        return asyncio.run(main())
    except TargetConfigError as error:
        raise ProbeInputError(str(error)) from None
