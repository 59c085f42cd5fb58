"""What junit.xml and report.html both judge: the count identities, fault and criterion verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stresslab.judgement.reconciliation import CountCheck, count_checks
from stresslab.outputs.format import format_number, whole
from stresslab.outputs.reading import records, section

_COUNT_TERMS = ("scheduled", "sent", "dropped", "ok", "errors", "timeouts", "undelivered",
                "target_received")


def reconcile_counts(counts: Mapping[str, Any]) -> list[CountCheck]:
    """The count identities of a summary's `counts` as read, a mistyped term as unknown."""
    by_class = section(counts, "errors_by_class")
    return count_checks(
        **{key: whole(counts.get(key)) for key in _COUNT_TERMS},
        errors_by_class={name: whole(value) for name, value in by_class.items()},
    )


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
