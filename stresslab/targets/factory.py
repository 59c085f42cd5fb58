"""The Target a run sends to, built from the scenario's `target:` section by its kind.

One way for every worker (local processes, Lambda): `open_run_target(spec, url, context)`.
Without a `target:` section the run posts the transaction as JSON to the URL, as it always did.
Each kind has an opener in OPENERS; an opener prepares everything once (secrets resolved, body
compiled, TLS loaded, token source made) and yields a Target whose `send` does only per-request
work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

from stresslab.ports import Clock, RealClock, Target
from stresslab.scenario.spec import HttpSettings, ScenarioSpec
from stresslab.targets.auth import (
    AuthError,
    AuthRefusals,
    ClientCredentialsToken,
    RequestSigner,
    aiohttp_token_fetcher,
    default_aws_credentials,
    static_headers,
    tls_context,
)
from stresslab.targets.aws_openers import (
    check_aws_target,
    open_express,
    open_lambda,
    open_stream,
)
from stresslab.targets.config import (
    AnyTarget,
    BearerAuth,
    SigV4Auth,
    TargetConfigError,
)
from stresslab.targets.config import HttpTarget as HttpSection
from stresslab.targets.http import HttpTarget, RequestShape
from stresslab.targets.secrets import SecretError, Secrets
from stresslab.targets.sender import body_renderer
from stresslab.targets.sigv4 import PreparedSigV4Signer

# what a target that cannot be built raises; each message is one line naming the field
TARGET_SETUP_ERRORS = (TargetConfigError, SecretError, AuthError)


@dataclass
class TargetContext:
    """What an opener needs from the worker that runs it (adapters injected)."""

    settings: HttpSettings
    secrets: Secrets
    clock: Clock = field(default_factory=RealClock)
    aws_credentials: Any = None  # SigV4; the default chain when None
    aws_session: Any = None  # boto3 session for the AWS kinds (lambda, kinesis, sqs, …)
    on_refused: Callable[[str], None] = lambda line: None
    # the worker processes sharing the run's refusal budget: N refusals in all, not N each
    refusal_share: int = 1


TargetOpener = Callable[[Any, TargetContext], AbstractAsyncContextManager[Target]]


def target_url_of(spec: ScenarioSpec) -> str | None:
    """The URL the scenario's own target section names (http kind), else None."""
    section = spec.target
    return section.url if isinstance(section, HttpSection) else None


def with_target_url(spec: ScenarioSpec, url: str | None) -> ScenarioSpec:
    """`--target URL` applied: it replaces an http target's url; without a section, the run
    sends to the URL as before. TargetConfigError for a kind that has no URL."""
    section = spec.target
    if url is None or section is None:
        return spec
    if not isinstance(section, HttpSection):
        raise TargetConfigError(
            f"--target gives a URL, but target.kind is {section.kind} (it has no url)"
        )
    return spec.model_copy(update={"target": section.model_copy(update={"url": url})})


def open_run_target(
    spec: ScenarioSpec, url: str, context: TargetContext, owner_urls: Sequence[str] = (),
) -> AbstractAsyncContextManager[Target]:
    """The run's Target: its `target:` section's kind, or the plain JSON POST to `url`, or,
    with several `owner_urls` (the reference service's processes), to the card's owner."""
    section = spec.target
    if section is None:
        if len(owner_urls) > 1:
            # only local runs have owners; the Lambda worker never loads the reference service
            from stresslab.targets.card_routed import CardRoutedTarget

            return CardRoutedTarget(owner_urls, spec.http)
        return HttpTarget(url, spec.http)
    return open_target(section, context)


def open_target(section: AnyTarget, context: TargetContext) -> AbstractAsyncContextManager[Target]:
    opener = OPENERS.get(section.kind)
    if opener is None:
        raise TargetConfigError(f"target.kind: {section.kind} targets cannot be run yet")
    return opener(section, context)


def check_target(spec: ScenarioSpec, environ: Mapping[str, str]) -> None:
    """Before a run starts: every secret resolvable, every file readable, credentials found.

    Raises one of TARGET_SETUP_ERRORS, one line naming the variable, path or field.
    """
    from stresslab.targets.secrets import environment_resolver

    section = spec.target
    if isinstance(section, HttpSection):
        secrets = Secrets(environment_resolver(environ))
        prepare_http(section, secrets)
        auth = section.auth
        if isinstance(auth, BearerAuth) and auth.is_client_credentials:
            # resolved by each worker when it first asks for a token: checked here, before
            for field in (auth.client_id, auth.client_secret):
                secrets.resolve(field or "")
        if isinstance(auth, SigV4Auth) and default_aws_credentials() is None:
            raise AuthError("target.auth: sigv4 found no AWS credentials in the default chain")
    elif section is not None:
        check_aws_target(section, Secrets(environment_resolver(environ)))


# -- http ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedHttp:
    url: str
    shape: RequestShape


def prepare_http(section: HttpSection, secrets: Secrets) -> PreparedHttp:
    """Everything an http target needs that does not change per request."""
    url = secrets.resolve(section.url, encode=lambda value: quote(value, safe=""))
    headers = static_headers(section, secrets)
    tls = tls_context(section)
    statuses = section.response.success_statuses
    shape = RequestShape(
        method=section.method, headers=headers, tls=tls, timeout=section.timeout,
        render=body_renderer(section.request, secrets),
        success=frozenset(statuses) if statuses else None,
    )
    return PreparedHttp(url, shape)


@asynccontextmanager
async def open_http(section: HttpSection, context: TargetContext) -> AsyncIterator[Target]:
    prepared = prepare_http(section, context.secrets)
    async with AsyncExitStack() as stack:
        signer = await _signer(section, context, prepared, stack)
        shape = replace(
            prepared.shape, signer=signer, refusals=AuthRefusals(
                max(1, section.abort_after_refusals // max(1, context.refusal_share))),
            on_refused=context.on_refused,
        )
        target = HttpTarget(prepared.url, context.settings, shape=shape)
        yield await stack.enter_async_context(target)


async def _signer(
    section: HttpSection, context: TargetContext, prepared: PreparedHttp, stack: AsyncExitStack
) -> RequestSigner | None:
    auth = section.auth
    if isinstance(auth, SigV4Auth):
        credentials = context.aws_credentials or default_aws_credentials()
        # botocore's canonical request prepared once: ~8 µs a request instead of ~100 µs
        return PreparedSigV4Signer(auth, credentials, on_secret=context.secrets.add_derived)
    if isinstance(auth, BearerAuth) and auth.is_client_credentials:
        import aiohttp  # only the token endpoint goes through aiohttp; the load does not

        session = await stack.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=prepared.shape.tls or True)
        ))
        fetch = aiohttp_token_fetcher(
            session, auth, context.secrets, timeout=section.timeout or context.settings.timeout
        )
        # one token per worker process, shared by all its requests, refreshed before expiry
        return ClientCredentialsToken(fetch, context.clock, on_token=context.secrets.add_derived)
    return None


# kind -> opener
OPENERS: dict[str, TargetOpener] = {
    "http": open_http,
    "lambda": open_lambda,
    "stepfunctions-express": open_express,
    "kinesis": open_stream,
    "sqs": open_stream,
}
