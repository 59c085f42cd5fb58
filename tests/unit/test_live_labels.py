"""The pages' constants (src/generated/labels.ts) are generated from the Python that defines them,
and a stale copy is caught like the types (`make contract` rewrites it)."""

from __future__ import annotations

import pytest

from stresslab.generation.transactions import EDGE_CASES, FRAUD_PATTERNS
from stresslab.measurement import live_schema
from stresslab.measurement.live_schema import LABELS_FILE, labels_text


def test_the_committed_labels_are_what_the_generator_names() -> None:
    assert LABELS_FILE.read_text() == labels_text(), (
        "dashboard_site/src/generated/labels.ts is stale: run "
        "`python -m stresslab.measurement.live_schema` (make contract)")


def test_every_label_and_decision_is_written_once_in_order() -> None:
    text = labels_text()
    for name in (*FRAUD_PATTERNS, "normal", *EDGE_CASES, "approve", "review", "block"):
        assert text.count(f'  "{name}",\n') == 1, name
    assert text.index('"card_testing"') < text.index('"atm_cashout"') < text.index('"normal"')


def test_a_new_fraud_pattern_makes_the_committed_labels_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_schema, "FRAUD_PATTERNS", (*FRAUD_PATTERNS, "synthetic_identity"))
    assert LABELS_FILE.read_text() != labels_text()
    assert '  "synthetic_identity",\n' in labels_text()
