"""Fixed runs (fake workers, fixed numbers) whose summary.json is kept as golden files: the
typed RunSummary must write what the dict-building code wrote, value for value."""

from __future__ import annotations

from typing import Any

from stresslab.generation.plan import plan_run
from stresslab.judgement.business import load_price_table
from stresslab.judgement.summary import RunFacts, build_summary
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.measurement.seconds import Seconds
from stresslab.scenario.spec import parse_scenario

TPS = 50
SPEC = {
    "name": "golden", "description": "a fixed run for the summary's golden files",
    "workers": 1, "seed": 7, "reporting_currency": "EUR",
    "phases": [{"name": "steady", "shape": "constant", "tps": TPS, "duration": 30}],
    "faults": [{"type": "agent_errors", "at": 10, "duration": 5, "label": "Crash",
                "target": "velocity"}],
    "criteria": ["lost == 0", "p95_ms < 50", {"expr": "error_rate < 0.5", "during": "fault"},
                 {"expr": "error_rate < 0.01", "after": "fault + 5s"},
                 {"expr": "accuracy > 0.5", "during": "steady"}],
}
LOCAL_FAULT = {  # as local/runner.py's fault windows record it
    "type": "agent_errors", "label": "Crash", "target": "velocity", "intensity": 0.3,
    "planned_start_s": 10.0, "planned_end_s": 15.0, "start_s": 10.2, "end_s": 15.1,
    "status": "cleared",
}
AWS_FAULT = {  # as aws/evaluation.py's _fault_window records it
    "type": "agent_errors", "label": "Crash", "key": "f1-agent_errors",
    "planned_start": "2026-01-01T00:00:10Z", "planned_end": "2026-01-01T00:00:15Z",
    "status": "scheduled with AWS FIS", "template_id": "EXT123", "number": 1,
    "target": "velocity", "intensity": 0.3, "planned_start_s": 10.0, "planned_end_s": 15.0,
}


def _second(n: int, bad: bool, rich: bool) -> WindowStats:
    stats = WindowStats()
    stats.scheduled = TPS + (2 if rich and n == 3 else 0)
    stats.dropped = 2 if rich and n == 3 else 0
    stats.sent = TPS
    stats.errors["http_5xx"] = 20 if bad else 0
    stats.errors["invalid_response"] = 1 if rich and n == 5 else 0
    stats.timeouts = 1 if rich and n == 7 else 0
    stats.undelivered = 1 if rich and n == 7 else 0
    stats.ok = TPS - stats.error_total - stats.timeouts
    for i in range(stats.ok):
        record_us(stats.latency, 0.004 + 0.0003 * (i % 40) + (0.02 if bad else 0.0))
        if rich:
            record_us(stats.lag, 0.0001 * (i % 7))
        fraud = i % 10 == 0
        flagged = fraud and i % 20 == 0 or i % 25 == 1
        pattern = "card_testing" if fraud else "normal"
        decision = "block" if flagged else "review" if i % 9 == 0 else "approve"
        stats.record_decision(decision, flagged, fraud, pattern, 12.5 + i)
        if rich:
            stats.record_agent("velocity", 0.002 + 0.0001 * (i % 5), bad and i % 2 == 0)
            stats.record_agent("geo", 0.001, False)
    return stats


def golden_summary(name: str, seconds: Seconds | None = None) -> dict[str, Any]:
    """The summary of one of the fixed runs: 'local' (rich: agents, lag, a fault observed
    by the local runtime, degradation), 'aws' (a fault as AWS records it), 'plain'; its
    seconds held in memory unless given a store for them."""
    spec_source: dict[str, Any] = dict(SPEC)
    rich = name != "plain"
    if name == "plain":
        spec_source = {**SPEC, "faults": [], "criteria": ["p99_ms < 1"]}
    spec = parse_scenario(spec_source, "test")
    plan = plan_run(spec, "r-golden")
    aggregator = RunAggregator("r-golden", plan.expected_per_second,
                               Seconds() if seconds is None else seconds)
    for n in range(int(spec.duration)):
        stats = _second(n, bad=rich and 10 <= n < 15, rich=rich)
        aggregator.add(stats.to_batch("r-golden", "w0-s0", 0, 0, n, n,
                                      final=n == spec.duration - 1))
    faults = {"local": [LOCAL_FAULT], "aws": [AWS_FAULT], "plain": []}[name]
    facts = RunFacts(
        run_id="r-golden", target="http://127.0.0.1:9/score", started_at="2026-01-01T00:00:00Z",
        ended_at="2026-01-01T00:00:31Z", status="completed" if rich else "aborted",
        target_received=None if name == "aws" else TPS * 30 - (1 if rich else 0),
        workers_expected=1, workers_failed=[] if rich else ["w0-s1"],
        fault_windows=[dict(f) for f in faults],
        extra_metrics={"memory_growth_pct": 1.5} if rich else {},
        notes=["from the runner"] if rich else [],
        degradation_changes=[{"at_s": 11.0, "level": "MODERATE", "previous": "NONE",
                              "reason": "error rate 40% > 5%", "applied": True}] if rich else [],
    )
    return build_summary(spec, plan, aggregator, facts, load_price_table(), 0.92)


GOLDEN_RUNS = ("local", "aws", "plain")
