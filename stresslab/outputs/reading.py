"""What the outputs accept as a run's summary: the typed RunSummary, or summary.json's dict,
which they read in RunSummary's reading mode (judgement/summary_model.read_summary): a file
recorded before a field existed, or cut short, renders with "n/a" where a part is missing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stresslab.judgement.summary_model import RunSummary, read_summary

SummaryLike = RunSummary | Mapping[str, Any]


def as_run_summary(summary: SummaryLike) -> RunSummary:
    return summary if isinstance(summary, RunSummary) else read_summary(summary)
