"""The identities a run's counts must satisfy, so that nothing is silently lost: one copy, used
by the summary's `counts.reconciled` and by the report's and junit's reconciliation checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CountCheck:
    """One reconciliation identity; passed is None when a term is unknown."""

    identity: str
    left: int | None
    right: int | None
    passed: bool | None
    required: bool
    note: str


def _check(identity: str, left: int | None, terms: Sequence[int | None], *,
           required: bool) -> CountCheck:
    if left is None or any(term is None for term in terms):
        note = "a term is unknown" if required else "not reported"
        return CountCheck(identity, left, None, None, required, note)
    right = sum(term for term in terms if term is not None)
    passed = left == right
    note = "" if passed else f"off by {left - right:+,}"
    return CountCheck(identity, left, right, passed, required, note)


def count_checks(
    *, scheduled: int | None, sent: int | None, dropped: int | None, ok: int | None,
    errors: int | None, timeouts: int | None, undelivered: int | None,
    target_received: int | None, errors_by_class: Mapping[str, int | None] | None,
) -> list[CountCheck]:
    """scheduled = sent + dropped; sent = ok + errors + timeouts; the target's own count (when
    it reports one) = sent - undelivered; errors = the sum of their classes (when reported)."""
    class_terms: list[int | None] = list(errors_by_class.values()) if errors_by_class else [None]
    return [
        _check("scheduled = sent + dropped", scheduled, [sent, dropped], required=True),
        _check("sent = ok + errors + timeouts", sent, [ok, errors, timeouts], required=True),
        _check("target_received = sent - undelivered", target_received,
               [sent, -(undelivered or 0)], required=False),
        _check("errors = sum(errors_by_class)", errors, class_terms, required=False),
    ]


def holds(checks: Sequence[CountCheck]) -> bool:
    """No identity fails and every required one could be checked."""
    return all(c.passed is True or (c.passed is None and not c.required) for c in checks)
