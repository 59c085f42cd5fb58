"""Which system is under test, as every page, report and summary names it (never a secret)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from stresslab.targets.config import (
    AnyTarget,
    HttpTarget,
    KinesisTarget,
    LambdaTarget,
    SqsTarget,
    StepFunctionsExpressTarget,
)

REFERENCE_NAME = "reference service"
REFERENCE_LABEL = "reference service — simulated agents"
NAME_CHARS = 120
_KIND_LABEL = re.compile(r"(kinesis|sqs):[A-Za-z0-9_.-]{1,128}")

ShortText = Annotated[str, Field(min_length=1, max_length=2 * NAME_CHARS)]


class TargetIdentity(BaseModel):
    """The system under test in a few words: its name, kind and where it lives."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: ShortText = Field(description="target.name from the scenario, else the host")
    kind: str = Field(description="http, lambda, stepfunctions-express, kinesis or sqs")
    host: str | None = Field(
        description="http: the URL's host[:port]; AWS kinds: the function, state machine, "
                    "stream or queue name; never a path, query or credentials")
    reference: bool = Field(description="the bundled reference service (simulated agents)")
    label: ShortText = Field(description="how pages and reports name it, in one line")


def url_host(url: str) -> str | None:
    """host[:port] of a URL: no scheme, credentials, path or query (they may hold a secret)."""
    try:
        parts = urlsplit(url)
        hostname, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not hostname:
        return None
    host = f"[{hostname}]" if ":" in hostname else hostname
    return f"{host}:{port}" if port is not None else host


def _resource_name(section: AnyTarget) -> str | None:
    if isinstance(section, HttpTarget):
        return url_host(section.url)
    if isinstance(section, LambdaTarget):
        function = section.function
        if function.startswith("arn:"):  # arn:aws:lambda:region:account:function:name[:alias]
            function = function.split(":function:", 1)[-1].split(":", 1)[0]
        return function
    if isinstance(section, StepFunctionsExpressTarget):
        return section.state_machine_arn.rsplit(":", 1)[-1]
    if isinstance(section, KinesisTarget):
        return section.stream.rsplit("/", 1)[-1]
    if isinstance(section, SqsTarget):
        return section.queue_url.rstrip("/").rsplit("/", 1)[-1]
    return None


def _printable(text: str) -> str:
    """One line of at most NAME_CHARS characters: control characters become spaces."""
    line = "".join(c if c.isprintable() else " " for c in text).strip()
    return line if len(line) <= NAME_CHARS else line[: NAME_CHARS - 1] + "…"


def identify_target(
    url: str | None = None, *, section: AnyTarget | None = None, reference: bool = False
) -> TargetIdentity:
    """The identity of what a run stresses: the reference service, a target section, or a URL."""
    if reference:
        return TargetIdentity(name=REFERENCE_NAME, kind="http",
                              host=url_host(url) if url else None, reference=True,
                              label=REFERENCE_LABEL)
    kind: str = section.kind if section is not None else "http"
    host = _resource_name(section) if section is not None else None
    if host is None and url:
        host = url_host(url)
        if host is None and section is None and _KIND_LABEL.fullmatch(url):
            kind, host = url.split(":", 1)  # an AWS run's stream target: kinesis:NAME
    declared = getattr(section, "name", None) if section is not None else None
    name = _printable(declared) if declared else None
    name = name or host or "unnamed target"
    if host and host != name:
        label = f"{name} ({kind}, {host})"
    else:
        label = f"{name} ({kind})"
    return TargetIdentity(name=name, kind=kind, host=host, reference=False, label=label)
