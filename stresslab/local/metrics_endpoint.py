"""The run as Prometheus sees it: the live feed's latest tick in the text exposition format
(version 0.0.4), written out here rather than through a client library because it is a handful
of lines and every number is read from the tick, never recomputed.

Labels: the run's scenario and run id on every sample, plus a few of bounded cardinality (error
class, quantile, window, degradation level, planned fault key); never per transaction or card."""

from __future__ import annotations

from collections.abc import Iterable

from stresslab.judgement.degradation import LEVELS
from stresslab.measurement.live import LiveRun, Tick

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (("0.5", "p50_ms"), ("0.95", "p95_ms"), ("0.99", "p99_ms"))

Sample = tuple[dict[str, str], float]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{escape(value)}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def family(name: str, kind: str, help_text: str, run: dict[str, str],
           samples: Iterable[Sample]) -> list[str]:
    """One metric family: HELP, TYPE and its samples, each with the run's labels first."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{_labels({**run, **extra})} {_number(value)}" for extra, value in samples]
    return lines


def _present(*pairs: tuple[dict[str, str], float | None]) -> list[Sample]:
    """Samples whose value is known; a metric with no data yet (no answers) is left out."""
    return [(labels, value) for labels, value in pairs if value is not None]


def render_metrics(run: LiveRun | None, tick: Tick | None) -> str:
    """The exposition for the run in progress or the last one; no run: only stresslab_up."""
    lines = family("stresslab_up", "gauge", "1: a run (live or last) is being reported", {},
                   [({}, 1 if run is not None else 0)])
    if run is None:
        return "\n".join(lines) + "\n"
    labels = {"scenario": run.scenario, "run_id": run.run_id}
    lines += family("stresslab_run_info", "gauge", "1, with the run's status as a label",
                    labels, [({"status": run.status}, 1)])
    lines += family("stresslab_run_peak_target_tps", "gauge", "the plan's peak TPS", labels,
                    [({}, run.peak_tps)])
    if tick is None:
        return "\n".join(lines) + "\n"
    totals, window = tick.totals, tick.window
    lines += family("stresslab_run_elapsed_seconds", "gauge",
                    "run seconds closed and reported so far", labels, [({}, tick.elapsed_s)])
    for name, key, help_text in (
        ("stresslab_transactions_scheduled_total", "scheduled", "transactions due so far"),
        ("stresslab_transactions_sent_total", "sent", "transactions sent"),
        ("stresslab_transactions_ok_total", "ok", "transactions answered"),
        ("stresslab_transactions_timeouts_total", "timeouts", "transactions timed out"),
        ("stresslab_transactions_dropped_total", "dropped",
         "transactions not sent (the generator fell behind or the run shed load)"),
    ):
        lines += family(name, "counter", help_text, labels, [({}, totals[key])])  # type: ignore[literal-required]
    lines += family("stresslab_transactions_errors_total", "counter", "errors by class", labels,
                    [({"class": cls}, count) for cls, count in sorted(totals["errors_by_class"]
                                                                       .items())])
    lines += family("stresslab_tps", "gauge", "the last closed second: target, sent, ok",
                    labels, [({"kind": "target"}, window["target_tps"]),
                             ({"kind": "sent"}, window["sent"]), ({"kind": "ok"}, window["ok"])])
    lines += family(
        "stresslab_latency_seconds", "gauge",
        "latency quantiles from the HDR histograms: the last closed second, or the run so far",
        labels,
        _present(*(({"window": "second", "quantile": q}, _seconds(window[key]))  # type: ignore[literal-required]
                   for q, key in QUANTILES),
                 *(({"window": "run", "quantile": q}, _seconds(totals[key]))  # type: ignore[literal-required]
                   for q, key in QUANTILES)))
    lines += family("stresslab_detection_ratio", "gauge",
                    "fraud detection on the labelled transactions so far", labels,
                    _present(*(({"measure": key}, totals[key])
                               for key in ("accuracy", "precision", "recall",
                                           "false_positive_rate"))))
    lines += family("stresslab_degradation_level", "gauge",
                    "graceful degradation: 0 NONE, 1 MODERATE, 2 SEVERE, 3 CRITICAL", labels,
                    [({}, LEVELS.index(tick.degradation)
                      if tick.degradation in LEVELS else -1)])
    planned = [fault["key"] for fault in run.faults]
    keys = planned + [key for key in tick.faults_active if key not in planned]
    lines += family("stresslab_fault_active", "gauge",
                    "1 while the fault is on (planned faults, and injected ones while on)", labels,
                    [({"fault": key}, int(key in tick.faults_active)) for key in keys])
    return "\n".join(lines) + "\n"


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000
