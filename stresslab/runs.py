"""What both runtimes say about a run the same way: its id, its clock, its exports, who drives it.

The run id rule is the stricter of the two the runtimes had, because an AWS run id is also the
name of its Step Functions execution: the scenario's name lower-cased with anything outside
[a-z0-9_-] turned into '-', cut to 48 characters, the UTC start second, and 6 random hex
digits — at most 71 of [a-z0-9_-], so valid as an execution name (1-80 of [A-Za-z0-9_-]), a
file name and a URL path segment in either runtime.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
OPERATORS_GROUP = "operators"  # the Cognito group whose members may start and stop runs

EXPORT_CHARSET = "utf-8"
EXPORT_MEDIA_TYPES: dict[str, str] = {
    "summary.json": "application/json",
    "timeseries.csv": "text/csv",
    "report.html": "text/html",
    "junit.xml": "application/xml",
}
EXPORTS = tuple(EXPORT_MEDIA_TYPES)


class UnknownExport(ValueError):
    """A file name that is not one of a run's exports."""


def known_export(name: str) -> str:
    """`name` when it is one of EXPORTS; UnknownExport naming them otherwise."""
    if name not in EXPORTS:
        raise UnknownExport(f"file: unknown export {name!r}; one of {', '.join(EXPORTS)}")
    return name


def new_run_id(scenario: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^a-z0-9_-]", "-", scenario.lower())[:48]
    return f"{name}-{stamp}-{secrets.token_hex(3)}"


def iso(epoch: float) -> str:
    """A UTC instant as ISO 8601 with milliseconds and a 'Z', the way every record stores it."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


def export_content_type(name: str) -> str:
    """The Content-Type of an export, charset included (every export is UTF-8 text)."""
    return f"{EXPORT_MEDIA_TYPES[name]}; charset={EXPORT_CHARSET}"
