"""What the CLI prints about a run and a capacity search: one summary, one line per step."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stresslab.judgement.held_rate import held_rate_sentence
from stresslab.judgement.summary_model import RunSummary

if TYPE_CHECKING:
    from stresslab.judgement.capacity import PlannedStep, StepResult
    from stresslab.local.runner import LocalRun


def announce_step(index: int, planned: PlannedStep, run: LocalRun) -> None:
    print(f"stresslab: step {index} ({planned.stage}): {planned.tps:,.0f} TPS for "
          f"{run.spec.duration:g}s, run {run.run_id}", file=sys.stderr)


def print_step(index: int, step: StepResult) -> None:
    observed = step.observation.metrics

    def num(key: str) -> str:
        value = observed.get(key)
        return "n/a" if value is None else f"{value:,.1f}"

    rate = observed.get("error_rate")
    errors = "n/a" if rate is None else f"{rate * 100:.3f}%"
    why = "; ".join([*step.generator_issues, *step.failed_criteria])
    print(f"stresslab: step {index}: {step.tps:,.0f} TPS {step.verdict.upper()}  "
          f"p95 {num('p95_ms')} ms, p99 {num('p99_ms')} ms, errors {errors}, "
          f"dropped {step.observation.dropped:,}, lag p99 {num('lag_p99_ms')} ms"
          f"{f'  ({why})' if why else ''}", file=sys.stderr)


def print_capacity(
    report: dict[str, Any], outputs: dict[str, Path], confirm: str | None = None
) -> None:
    def tps(value: Any) -> str:
        return "n/a" if value is None else f"{value:,.0f} TPS"

    headline = {
        "found": f"CAPACITY {tps(report['capacity_tps'])}",
        "max-reached": f"CAPACITY at least {tps(report['capacity_tps'])} (max_tps reached)",
        "none-passed": "NO CAPACITY: even the first step failed",
        "generator-limited": "GENERATOR-LIMITED: no capacity established",
        "incomplete": "INCOMPLETE: the search was cut short",
    }[report["outcome"]]
    steps = ", ".join(
        f"{step['tps']:,.0f} {'ok' if step['passed'] else step['verdict'].upper()}"
        for step in report["steps"]
    )
    lines = [
        f"{headline}  {report['scenario']}  ({report['status']}, search {report['search_id']})",
        f"  highest passing {tps(report['highest_passing_tps'])}, first failing "
        f"{tps(report['first_failing_tps'])}, resolution {tps(report['resolution_tps'])}",
        f"  criteria  {', '.join(report['criteria']) or 'none'}",
        f"  steps     {steps or 'none'}",
    ]
    lines += [f"  note: {note}" for note in report["notes"]]
    if confirm:
        lines.append(f"  confirm   {confirm}")
    if outputs:
        lines.append(f"  report    {outputs.get('report')}")
    print("\n".join(lines))


def print_summary(summary: RunSummary, outputs: dict[str, Path]) -> None:
    from stresslab.outputs.baselines import regression_lines

    counts, load, latency = summary.counts, summary.load, summary.latency_ms
    accuracy, business = summary.accuracy, summary.business

    def num(value: float | None, digits: int = 1) -> str:
        return "n/a" if value is None else f"{value:,.{digits}f}"

    lines = [
        f"{'PASSED' if summary.passed else 'FAILED'}  {summary.scenario}  "
        f"({summary.status}, run {summary.run_id})",
        f"  load      target {num(load.target_tps_avg)} TPS, achieved "
        f"{num(load.achieved_tps_avg)} TPS ({num(load.rate_error_pct, 2)}%), "
        f"peak {load.peak_tps:,}",
        *([f"  held      {held}"] if (held := held_rate_sentence(summary.held_rate)) else []),
        f"  counts    scheduled {counts.scheduled:,} = sent {counts.sent:,} + dropped "
        f"{counts.dropped:,}; sent = ok {counts.ok:,} + errors {counts.errors:,} + "
        f"timeouts {counts.timeouts:,}; target received "
        f"{_count(counts.target_received)}",
        f"  latency   p50 {num(latency.p50)} ms, p95 {num(latency.p95)} ms, "
        f"p99 {num(latency.p99)} ms, max {num(latency.max)} ms",
        f"  accuracy  {num(_pct(accuracy.accuracy))}% of {accuracy.labelled:,} labelled, "
        f"precision {num(_pct(accuracy.precision))}%, recall {num(_pct(accuracy.recall))}%",
        f"  business  {business.fraud_detected:,} fraud detected, "
        f"{num(business.fraud_prevented_amount, 2)} {business.currency} prevented, "
        f"{business.cost_per_transaction:.6f} {business.currency} per transaction",
    ]
    for criterion in summary.criteria:
        mark = "ok  " if criterion.passed else "FAIL"
        lines.append(f"  {mark} {criterion.expr} [{criterion.window}] observed "
                     f"{num(criterion.observed, 4)}")
    for note in summary.notes:
        lines.append(f"  note: {note}")
    lines += regression_lines(summary.regression)
    if outputs:
        lines.append(f"  report    {outputs.get('report')}")
    print("\n".join(lines))


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100
