"""The count identities, one copy: the summary's `reconciled` and the report's checks agree."""

from __future__ import annotations

from typing import Any

from stresslab.judgement.reconciliation import count_checks, holds
from stresslab.outputs.checks import reconcile_counts

COUNTS: dict[str, Any] = {"scheduled": 12, "sent": 10, "dropped": 2, "ok": 7, "errors": 2,
                          "timeouts": 1, "undelivered": 1, "target_received": 9,
                          "errors_by_class": {"connect": 1, "http_5xx": 1}}


def test_counts_that_add_up_hold_and_an_unknown_target_count_is_not_a_failure() -> None:
    assert holds(count_checks(**COUNTS))
    assert holds(count_checks(**{**COUNTS, "target_received": None}))


def test_a_target_that_counted_an_undelivered_request_does_not_reconcile() -> None:
    checks = count_checks(**{**COUNTS, "target_received": 10})
    assert not holds(checks)
    assert [c.note for c in checks if c.passed is False] == ["off by +1"]


def test_a_required_term_unknown_does_not_hold() -> None:
    assert not holds(count_checks(**{**COUNTS, "dropped": None}))


def test_the_report_reads_a_summary_through_the_same_identities() -> None:
    assert reconcile_counts(COUNTS) == count_checks(**COUNTS)
    assert reconcile_counts({**COUNTS, "sent": 10.5})[0].passed is None  # a fraction: unknown
