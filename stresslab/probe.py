"""`stresslab probe`: send a few transactions as a run would and show what was sent and read.

Each request goes through the run's own Target for the kind (targets/factory.py). For http
the lean client's bytes are recorded as written, so what is printed is what a run sends; for
the AWS kinds, the body the opener rendered and the SDK call's outcome.
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

import orjson

from stresslab.generation.transactions import TransactionFactory
from stresslab.ports import OUTCOME_OK, OUTCOME_TIMEOUT, Outcome, Target
from stresslab.scenario.spec import HttpSettings, ScenarioSpec, load_scenario
from stresslab.targets.auth import AuthRefusals
from stresslab.targets.config import (
    AnyTarget,
    KinesisTarget,
    LambdaTarget,
    MtlsAuth,
    ResponseMapping,
    SqsTarget,
    StepFunctionsExpressTarget,
    TargetConfigError,
)
from stresslab.targets.config import HttpTarget as HttpSection
from stresslab.targets.factory import (
    TARGET_SETUP_ERRORS,
    TargetContext,
    _signer,
    check_target,
    open_target,
    prepare_http,
    with_target_url,
)
from stresslab.targets.http import OUTCOME_OVERSIZED, HttpTarget, RequestShape
from stresslab.targets.response import ReadAnswer, ResponseReader
from stresslab.targets.secrets import Secrets, environment_resolver
from stresslab.targets.sender import body_renderer

EXIT_MAPPED = 0
EXIT_NOT_MAPPED = 1
PROBE_RUN_ID = "probe"
REFERENCE_NAME = "reference service — simulated agents"
ANSWER_CHARS = 2000
TOP_KEYS_SHOWN = 12


class ProbeInputError(ValueError):
    """A scenario, target section or secret that cannot be probed. The message is one line."""


class RecordingTarget(HttpTarget):
    """The run's HTTP target, keeping the last request's bytes and the answer's status and body.

    The bytes are caught where the client builds a signed request; without a signer of its own
    the target is given one that adds no header, whose request is byte for byte the unsigned
    one (the same head, Content-Length and body). mypy flags these overrides if the client's
    methods change.
    """

    def __init__(self, url: str, settings: HttpSettings, shape: RequestShape | None = None):
        shape = shape or RequestShape()
        super().__init__(url, settings, shape=replace(shape, signer=shape.signer or _NO_SIGNATURE))
        self.request = b""
        self.status: int | None = None
        self.answer = b""

    async def _signed_request(self, payload: Mapping[str, Any]) -> bytes:
        self.request, self.status, self.answer = await super()._signed_request(payload), None, b""
        return self.request

    def _judge(self, status: int, answer: bytes) -> Outcome:
        self.status, self.answer = status, answer
        return super()._judge(status, answer)


class _NoSignature:
    async def headers_for(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes
    ) -> Mapping[str, str]:
        return {}


_NO_SIGNATURE = _NoSignature()


@dataclass
class Probed:
    """One transaction's trip: the request as sent, what came back, the decision as mapped."""

    request: list[str]
    outcome: Outcome
    status: int | None = None  # an HTTP answer's status
    answer: str | None = None
    read: ReadAnswer | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def mapped(self) -> bool:
        return self.read is not None and self.read.valid

    def lines(self, mask: Callable[[str], str]) -> list[str]:
        """What probe prints for it, every line masked."""
        lines = [f"> {line}" for line in self.request]
        lines.append(f"< {self.outcome.kind if self.status is None else self.status}")
        if self.answer is not None:
            cut = f"… ({len(self.answer)} chars)" if len(self.answer) > ANSWER_CHARS else ""
            lines.append(f"< {self.answer[:ANSWER_CHARS]}{cut}")
        if self.mapped:
            assert self.read is not None
            lines.append(f"= {self.read.decision}")
        lines += [f"! {problem}" for problem in self.problems]
        return [mask(line) for line in lines]


def http_request_lines(request: bytes) -> list[str]:
    """The request line, headers and body of an HTTP/1.1 request as written to the socket."""
    head, _, body = request.partition(b"\r\n\r\n")
    lines = [line for line in head.decode("latin-1").split("\r\n") if line]
    return [*lines, body.decode("utf-8", errors="replace")]


@dataclass(frozen=True)
class ProbePlan:
    """The scenario (its mix and seed) and the target the run would send to."""

    spec: ScenarioSpec
    target_url: str | None  # --target; without it and without a section: the reference service

    @property
    def uses_reference(self) -> bool:
        return self.spec.target is None and self.target_url is None

    @property
    def section(self) -> AnyTarget | None:
        return self.spec.target


def plan_probe(scenario: str, target_url: str | None, environ: Mapping[str, str]) -> ProbePlan:
    """The scenario with --target applied; its secrets, files and credentials checked."""
    spec = load_scenario(scenario)
    try:
        spec = with_target_url(spec, target_url)
        plan = ProbePlan(spec, target_url)
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


# what the AWS kinds' error classes mean (targets/aws_calls.py, aws_lambda.py, aws_streams.py)
SDK_ERRORS = {
    "http_5xx": "the service failed the call: the function raised (FunctionError), the "
                "workflow FAILED or TIMED_OUT, or AWS answered 5xx",
    "http_429": "throttled (TooManyRequestsException, ThrottlingException or a full shard)",
    "http_4xx": "AWS refused the call (4xx): check the name or ARN, the region and what the "
                "credentials are allowed to do",
    "invalid_response": "the answer is not JSON",
    "connect": "cannot reach the AWS endpoint (region, AWS_ENDPOINT_URL, network)",
    "dropped": "the service did not take the record",
}


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


class HttpProber:
    """Probes through the run's HTTP target, recording the bytes it writes and the answer."""

    def __init__(
        self, target: RecordingTarget, reader: ResponseReader, timeout: float,
        tls: ssl.SSLContext | None = None, mtls: bool = False,
    ) -> None:
        self.where = target.url
        self.refused: list[str] = []
        self._target, self._reader, self._timeout = target, reader, timeout
        self._tls, self._mtls = tls, mtls

    async def trip(self, payload: dict[str, Any]) -> Probed:
        target = self._target
        sent = await target.send(payload)
        answer = target.answer.decode("utf-8", errors="replace") if target.status else None
        probed = Probed(http_request_lines(target.request), sent, target.status, answer)
        judge(probed, self._reader, self._timeout)
        if probed.status is None and sent.kind not in (OUTCOME_TIMEOUT, OUTCOME_OVERSIZED):
            probed.problems.append(
                await why_no_answer(target.url, self._tls, self._mtls, self._timeout))
        return probed


class SdkProber:
    """Probes an AWS-native kind through the run's own Target for it (targets/aws_openers.py)."""

    def __init__(self, section: AnyTarget, target: Target, secrets: Secrets, timeout: float):
        self.where = _destination(section)
        self.refused: list[str] = []
        self._section, self._target, self._timeout = section, target, timeout
        self._render = body_renderer(section.request, secrets)  # as the opener compiled it
        self._reader = ResponseReader(section.response)

    async def trip(self, payload: dict[str, Any]) -> Probed:
        body = self._render(payload).decode("utf-8", errors="replace")
        sent = await self._target.send(payload)
        answer = None if sent.body is None else orjson.dumps(sent.body, default=str).decode()
        probed = Probed([f"{self._section.kind} {self.where}", body], sent, answer=answer)
        judge(probed, self._reader, self._timeout)
        if sent.kind in SDK_ERRORS:
            probed.problems.append(SDK_ERRORS[sent.kind])
        return probed


def _destination(section: AnyTarget) -> str:
    if isinstance(section, LambdaTarget):
        return section.function + (f":{section.qualifier}" if section.qualifier else "")
    if isinstance(section, StepFunctionsExpressTarget):
        return section.state_machine_arn
    if isinstance(section, KinesisTarget | SqsTarget):
        into = section.stream if isinstance(section, KinesisTarget) else section.queue_url
        source = section.outcome
        back = source.kinesis or source.sqs or source.dynamodb
        return f"{into}, decisions from {back}"
    return section.url


@asynccontextmanager
async def open_prober(
    plan: ProbePlan, secrets: Secrets, url: str | None
) -> AsyncIterator[HttpProber | SdkProber]:
    """The run's target for the section (or the plain JSON POST to url), made to show its work."""
    spec, section = plan.spec, plan.section
    timeout = (section.timeout if section is not None else None) or spec.http.timeout
    if section is None:
        assert url is not None, "the reference service's URL, or --target"
        reader = ResponseReader(ResponseMapping(decision=spec.response.decision_field))
        plain = RecordingTarget(url, spec.http)
        async with plain:
            yield HttpProber(plain, reader, timeout)
        return
    async with AsyncExitStack() as stack:
        prober: HttpProber | SdkProber
        try:
            if isinstance(section, HttpSection):
                prober = await _open_http(section, spec, secrets, stack, timeout)
            else:
                context = TargetContext(settings=spec.http, secrets=secrets)
                target = await stack.enter_async_context(open_target(section, context))
                prober = SdkProber(section, target, secrets, timeout)
        except TARGET_SETUP_ERRORS as error:
            raise ProbeInputError(str(error)) from None
        yield prober


async def _open_http(
    section: HttpSection, spec: ScenarioSpec, secrets: Secrets, stack: AsyncExitStack,
    timeout: float,
) -> HttpProber:
    refused: list[str] = []
    context = TargetContext(settings=spec.http, secrets=secrets, on_refused=refused.append)
    prepared = prepare_http(section, secrets)
    signer = await _signer(section, context, prepared, stack)
    shape = replace(prepared.shape, signer=signer,
                    refusals=AuthRefusals(section.abort_after_refusals),
                    on_refused=refused.append)
    target = RecordingTarget(prepared.url, spec.http, shape=shape)
    await stack.enter_async_context(target)
    prober = HttpProber(target, ResponseReader(section.response), timeout,
                        prepared.shape.tls, isinstance(section.auth, MtlsAuth))
    prober.refused = refused
    return prober


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
    async with open_prober(plan, secrets, plan.target_url or reference_url) as prober:
        say(mask(f"probe: {count} transaction{'s' * (count != 1)} from {spec.name} "
                 f"(seed {spec.seed}) to {name} at {prober.where}"))
        for number in range(1, count + 1):
            generated = factory.next(time.time())
            say(f"-- {number}/{count}  {generated.transaction_id}  "
                f"(ground truth: {generated.label.category}, {generated.label.pattern})")
            probed = await prober.trip(generated.payload)
            outcome.probes += 1
            outcome.mapped += probed.mapped
            for line in probed.lines(mask):
                say(line)
            if prober.refused:  # as many refusals in a row as a run takes before it aborts
                outcome.refused = prober.refused[0]
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
