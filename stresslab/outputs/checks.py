"""What junit.xml and report.html both judge: the count identities, fault and criterion verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stresslab.outputs.format import format_number, whole
from stresslab.outputs.reading import records, section


@dataclass(frozen=True)
class CountCheck:
    """One reconciliation identity; passed is None when a term is unknown."""

    identity: str
    left: int | None
    right: int | None
    passed: bool | None
    required: bool
    note: str


def _check(identity: str, left: Any, terms: Sequence[Any], *, required: bool) -> CountCheck:
    left_value = whole(left)
    values = [whole(term) for term in terms]
    if left_value is None or any(value is None for value in values):
        note = "a term is unknown" if required else "not reported"
        return CountCheck(identity, left_value, None, None, required, note)
    right_value = sum(value for value in values if value is not None)
    passed = left_value == right_value
    note = "" if passed else f"off by {left_value - right_value:+,}"
    return CountCheck(identity, left_value, right_value, passed, required, note)


def reconcile_counts(counts: Mapping[str, Any]) -> list[CountCheck]:
    """The identities every run's counts must satisfy; nothing may be silently lost."""
    get = counts.get
    by_class = section(counts, "errors_by_class")
    class_terms: list[Any] = list(by_class.values()) if by_class else [None]
    return [
        _check("scheduled = sent + dropped", get("scheduled"), [get("sent"), get("dropped")],
               required=True),
        _check("sent = ok + errors + timeouts", get("sent"),
               [get("ok"), get("errors"), get("timeouts")], required=True),
        _check("target_received = sent - undelivered", get("target_received"),
               [get("sent"), -(whole(get("undelivered")) or 0)], required=False),
        _check("errors = sum(errors_by_class)", get("errors"), class_terms, required=False),
    ]


def reconcile_failures(checks: Sequence[CountCheck]) -> list[str]:
    """One line per identity that fails, or that is required and cannot be checked."""
    failures = []
    for check in checks:
        if check.passed is False:
            failures.append(
                f"{check.identity}: {format_number(check.left)} != {format_number(check.right)}"
            )
        elif check.passed is None and check.required:
            failures.append(f"{check.identity}: {check.note}")
    return failures


def criterion_name(criterion: Mapping[str, Any]) -> str:
    window = criterion.get("window") or "run"
    return f"{criterion.get('expr', '?')} [{window}]"


def fault_why(fault: Mapping[str, Any]) -> str:
    """Why a fault failed, in a few words."""
    reasons = []
    if fault.get("passed") is None:
        return str(fault.get("status") or "")
    if fault.get("time_to_recover_s") is None:
        reasons.append("never recovered")
    lost = whole(fault.get("lost"))
    if lost:
        reasons.append(f"{lost:,} lost")
    failed = [f"{c.get('expr')} [{c.get('window')}]" for c in records(fault, "criteria")
              if c.get("passed") is not True]
    reasons.extend(failed)
    return "; ".join(reasons)
