"""What junit.xml and report.html both judge: the count identities, fault and criterion verdicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stresslab.judgement.criteria import CriterionResult
from stresslab.judgement.readable import read_part
from stresslab.judgement.reconciliation import CountCheck, count_checks
from stresslab.judgement.summary_model import Counts, FaultEntry
from stresslab.outputs.format import format_number, whole


def reconcile_counts(counts: Counts | Mapping[str, Any]) -> list[CountCheck]:
    """The count identities of a summary's `counts` as read; a term not recorded is unknown."""
    read = counts if isinstance(counts, Counts) else read_part(Counts, counts)
    return count_checks(
        scheduled=whole(read.scheduled), sent=whole(read.sent), dropped=whole(read.dropped),
        ok=whole(read.ok), errors=whole(read.errors), timeouts=whole(read.timeouts),
        undelivered=whole(read.undelivered), target_received=whole(read.target_received),
        errors_by_class={name: whole(value) for name, value in read.errors_by_class.items()},
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


def criterion_name(criterion: CriterionResult) -> str:
    return f"{criterion.expr} [{criterion.window or 'run'}]"


def fault_why(fault: FaultEntry) -> str:
    """Why a fault failed, in a few words."""
    reasons = []
    if fault.passed is None:
        return str(fault.status or "")
    if fault.time_to_recover_s is None:
        reasons.append("never recovered")
    lost = whole(fault.lost)
    if lost:
        reasons.append(f"{lost:,} lost")
    failed = [f"{c.expr} [{c.window}]" for c in fault.criteria if c.passed is not True]
    reasons.extend(failed)
    return "; ".join(reasons)
