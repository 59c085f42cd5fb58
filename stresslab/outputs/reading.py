"""Reading summary.json for the outputs: the typed RunSummary or the dict it is on the wire.

The report renders any stresslab.summary/v1 file, also one recorded before a field existed or
cut short, with "n/a" where a part is missing. RunSummary requires every field, so the outputs
read the wire dict, defensively, here: a missing or mistyped part reads as empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stresslab.judgement.summary_model import RunSummary

SummaryLike = RunSummary | Mapping[str, Any]


def summary_dict(summary: SummaryLike) -> Mapping[str, Any]:
    """The summary as summary.json holds it."""
    return summary.to_json_dict() if isinstance(summary, RunSummary) else summary


def section(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def records(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value if isinstance(item, Mapping)]
