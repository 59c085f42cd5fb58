"""Baselines for the live pages: which finished runs a page may overlay, and a finished run's
stored seconds as the series the analytics page draws (both runtimes' control API)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from stresslab.control import BaselineList, BaselineRun, RunSeries, SeriesPhase, SeriesSecond
from stresslab.scenario.spec import ScenarioSpec

RUNNING = "running"


class NotFinished(LookupError):
    """The run has not ended yet: it has no series to compare with."""


def is_finished(record: Mapping[str, Any]) -> bool:
    """Ended, whatever the outcome (completed, failed, aborted, invalid, timed_out)."""
    return record.get("status") not in (None, RUNNING)


def baseline_list(runs: Sequence[Mapping[str, Any]], scenario: str | None,
                  exclude: str | None = None) -> BaselineList:
    """Finished runs (not `exclude`, the live one), `scenario`'s first; each group keeps the
    order it came in (the store's: newest first)."""
    finished = [r for r in runs if is_finished(r) and r["run_id"] != exclude]
    same = [r for r in finished if r.get("scenario") == scenario]
    others = [r for r in finished if r.get("scenario") != scenario]
    return BaselineList(scenario=scenario, baselines=[
        BaselineRun(run_id=r["run_id"], scenario=r.get("scenario") or "", status=r["status"],
                    started_at=r.get("started_at") or "", ended_at=r.get("ended_at"),
                    passed=r.get("passed"), same_scenario=r in same)
        for r in [*same, *others]
    ])


def phase_spans(spec: Mapping[str, Any] | None) -> list[SeriesPhase]:
    """The phases of a stored (already scaled) spec on the run's clock; none when the spec
    cannot be read (a record from an older version)."""
    try:
        phases = ScenarioSpec.model_validate(spec or {}).phases
    except ValidationError:
        return []
    spans, start = [], 0.0
    for index, phase in enumerate(phases):  # named as describe_run names them on the live feed
        spans.append(SeriesPhase(name=phase.name or f"phase {index + 1}", start_s=start,
                                 end_s=start + phase.duration))
        start += phase.duration
    return spans


def phase_at(spans: Sequence[SeriesPhase], second: float) -> str | None:
    for span in spans:
        if span.start_s <= second < span.end_s:
            return span.name
    return None


def _rate(errors: int, timeouts: int, sent: int) -> float | None:
    return (errors + timeouts) / sent if sent > 0 else None  # as derive.ts errorRate


def series_second(row: Mapping[str, Any], spans: Sequence[SeriesPhase]) -> SeriesSecond:
    """A stored row (RunAggregator.second_row) cut to what the page charts; values as stored."""
    counts = {key: int(row.get(key) or 0)
              for key in ("sent", "ok", "errors", "timeouts", "dropped")}
    by_class = row.get("errors_by_class")
    return SeriesSecond(
        second=int(row["second"]), phase=phase_at(spans, int(row["second"])),
        target_tps=float(row.get("target_tps") or 0.0), **counts,
        errors_by_class={str(k): int(v) for k, v in (by_class or {}).items()}
        if isinstance(by_class, Mapping) else {},
        error_rate=_rate(counts["errors"], counts["timeouts"], counts["sent"]),
        p50_ms=row.get("p50_ms"), p95_ms=row.get("p95_ms"), p99_ms=row.get("p99_ms"),
        accuracy=row.get("accuracy"),
    )


def run_series(record: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> RunSeries:
    """A finished run's record and stored seconds as one series; NotFinished while it runs."""
    if not is_finished(record):
        raise NotFinished(f"run_id: run {record['run_id']} has not finished "
                          f"(status {record.get('status')}); only a finished run is a baseline")
    spans = phase_spans(record.get("spec"))
    last = int(rows[-1]["second"]) + 1 if rows else 0
    return RunSeries(
        run_id=record["run_id"], scenario=record.get("scenario") or "", status=record["status"],
        started_at=record.get("started_at") or "",
        duration_s=spans[-1].end_s if spans else float(last), phases=spans,
        seconds=[series_second(row, spans) for row in rows],
    )
