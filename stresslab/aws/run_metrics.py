"""A run's closed seconds as CloudWatch metric figures: what the aggregator emits per ticked
second (lambdas/run_metrics.py writes them as EMF), read from the tick and never recomputed.

Dimensions are the run id and the scenario only; the error classes are part of the metric
name (a fixed set), so no dimension has more than one value per run."""

from __future__ import annotations

from typing import NamedTuple

from stresslab.judgement.degradation import LEVELS
from stresslab.measurement.live import Tick
from stresslab.measurement.metrics import ERROR_CLASSES

COUNTS = (("Scheduled", "scheduled"), ("Sent", "sent"), ("Ok", "ok"), ("Errors", "errors"),
          ("Timeouts", "timeouts"), ("Dropped", "dropped"))
LATENCIES = (("LatencyP50", "p50_ms"), ("LatencyP95", "p95_ms"), ("LatencyP99", "p99_ms"))
DETECTION = (("Accuracy", "accuracy"), ("Precision", "precision"), ("Recall", "recall"))


class Figure(NamedTuple):
    name: str
    unit: str  # a CloudWatch unit, as Powertools' MetricUnit values spell them
    value: float


def second_figures(tick: Tick) -> list[Figure]:
    """One closed second: its counts, TPS and latency quantiles; detection on the run so far;
    the degradation level and the faults on. Unknown figures (no answers yet) are left out."""
    window, totals = tick.window, tick.totals
    figures = [Figure(name, "Count", window[key]) for name, key in COUNTS]  # type: ignore[literal-required]
    figures += [Figure(f"Errors_{cls}", "Count", window["errors_by_class"].get(cls, 0))
                for cls in ERROR_CLASSES]
    figures += [Figure("TargetTPS", "Count/Second", window["target_tps"]),
                Figure("AchievedTPS", "Count/Second", window["sent"])]
    figures += [Figure(name, "Milliseconds", window[key])  # type: ignore[literal-required]
                for name, key in LATENCIES if window[key] is not None]  # type: ignore[literal-required]
    figures += [Figure(name, "Percent", 100 * totals[key])  # type: ignore[literal-required]
                for name, key in DETECTION if totals[key] is not None]  # type: ignore[literal-required]
    level = LEVELS.index(tick.degradation) if tick.degradation in LEVELS else -1
    figures += [Figure("DegradationLevel", "None", level),
                Figure("FaultsActive", "Count", len(tick.faults_active))]
    return figures
