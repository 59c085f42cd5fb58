"""Two runs compared: every headline metric side by side with its delta, whether the
difference exceeds noise, and which regression rules break.

Noise: a rate (errors, timeouts, accuracy, ...) is a share of counted trials, so two runs'
rates are compared with a two-proportion z test; a latency with the two runs' merged HDR
histograms is compared with a two-sample Kolmogorov-Smirnov test on their distributions. Both
at a two-sided significance level of 1% (|z| > 2.576; D > 1.628 sqrt((n + m) / (n m))).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from stresslab.judgement.phases import PhaseFigures, paired_phases
from stresslab.judgement.summary_model import (
    PhaseWindow,
    RegressionCheck,
    RegressionRuleResult,
    RunSummary,
)
from stresslab.scenario.regressions import RegressionRule

SIGNIFICANCE = 0.01
Z_CRITICAL = 2.576  # two-sided, 1%
KS_COEFFICIENT = 1.628  # c(alpha) of the two-sample KS test at 1%
LATENCY_KEYS = ("avg", "p50", "p90", "p95", "p99", "p999", "max")


@dataclass(frozen=True)
class Proportion:
    """A rate as the trials it was counted on: successes of total."""

    hits: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass(frozen=True)
class NoiseTest:
    name: str
    statistic: float
    critical: float

    @property
    def significant(self) -> bool:
        return abs(self.statistic) > self.critical


def two_proportion_z(baseline: Proportion, candidate: Proportion) -> NoiseTest | None:
    """Pooled two-proportion z test; None when either side has no trials. Equal rates on both
    sides (0 of n against 0 of m included) give z = 0."""
    if not baseline.total or not candidate.total:
        return None
    pooled = (baseline.hits + candidate.hits) / (baseline.total + candidate.total)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / baseline.total + 1 / candidate.total))
    difference = candidate.hits / candidate.total - baseline.hits / baseline.total
    z = 0.0 if spread == 0 else difference / spread
    return NoiseTest("two-proportion z", z, Z_CRITICAL)


Distribution = Sequence[tuple[float, int]]  # (value, count), ascending values


def kolmogorov_smirnov(baseline: Distribution, candidate: Distribution) -> NoiseTest | None:
    """Two-sample KS test on two counted distributions (HDR histogram buckets)."""
    n = sum(count for _, count in baseline)
    m = sum(count for _, count in candidate)
    if not n or not m:
        return None
    counts: dict[float, list[int]] = {}
    for value, count in baseline:
        counts.setdefault(value, [0, 0])[0] += count
    for value, count in candidate:
        counts.setdefault(value, [0, 0])[1] += count
    seen_b = seen_c = 0
    distance = 0.0
    for value in sorted(counts):
        seen_b += counts[value][0]
        seen_c += counts[value][1]
        distance = max(distance, abs(seen_b / n - seen_c / m))
    return NoiseTest("Kolmogorov-Smirnov", distance, KS_COEFFICIENT * math.sqrt((n + m) / (n * m)))


@dataclass(frozen=True)
class RunFigures:
    """What one side of a comparison measured: its summary and, when the store kept its
    batches, its merged latency distribution (ms buckets)."""

    summary: RunSummary
    latency_ms: dict[str, float | None] | None = None  # from merged HDR histograms
    distribution: Distribution | None = None
    phases: list[PhaseFigures] | None = None  # None: no per-second series kept

    @property
    def latency_source(self) -> str:
        return "merged HDR histograms" if self.latency_ms is not None else "summary figures"


@dataclass(frozen=True)
class MetricDelta:
    metric: str
    group: str
    baseline: float | None
    candidate: float | None
    noise: NoiseTest | None = None

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.candidate is None:
            return None
        return self.candidate - self.baseline

    @property
    def delta_pct(self) -> float | None:
        delta = self.delta
        if delta is None or not self.baseline:
            return None
        return delta / abs(self.baseline) * 100

    @property
    def significant(self) -> bool | None:
        return None if self.noise is None else self.noise.significant


@dataclass(frozen=True)
class RuleVerdict:
    rule: RegressionRule
    baseline: float | None
    candidate: float | None
    change: float | None  # in the rule's unit, positive = the worse way
    broken: bool
    reason: str


@dataclass(frozen=True)
class PhaseComparison:
    """One pair of phases, the baseline's and the candidate's, side by side."""

    name: str
    baseline: PhaseWindow
    candidate: PhaseWindow
    metrics: list[MetricDelta]


@dataclass
class Comparison:
    baseline: RunFigures
    candidate: RunFigures
    metrics: list[MetricDelta] = field(default_factory=list)
    rules: list[RuleVerdict] = field(default_factory=list)
    phases: list[PhaseComparison] = field(default_factory=list)
    phase_note: str = ""

    @property
    def regressed(self) -> bool:
        return any(verdict.broken for verdict in self.rules)

    def metric(self, name: str) -> MetricDelta:
        return next(m for m in self.metrics if m.metric == name)


class DifferentScenarios(ValueError):
    """Runs of two scenarios are not comparable."""


def _proportions(summary: RunSummary) -> dict[str, tuple[str, Proportion]]:
    counts, accuracy = summary.counts, summary.accuracy
    sent = counts.sent
    rates: dict[str, tuple[str, Proportion]] = {
        "error_rate": ("errors", Proportion(counts.errors + counts.timeouts, sent)),
        "timeout_rate": ("errors", Proportion(counts.timeouts, sent)),
        "throttle_rate": ("errors", Proportion(counts.errors_by_class.get("http_429", 0), sent)),
    }
    for name, count in sorted(counts.errors_by_class.items()):
        rates[f"error_rate.{name}"] = ("errors", Proportion(count, sent))
    rates["accuracy"] = ("accuracy", Proportion(accuracy.tp + accuracy.tn, accuracy.labelled))
    rates["precision"] = ("accuracy", Proportion(accuracy.tp, accuracy.tp + accuracy.fp))
    rates["recall"] = ("accuracy", Proportion(accuracy.tp, accuracy.tp + accuracy.fn))
    rates["false_positive_rate"] = (
        "accuracy", Proportion(accuracy.fp, accuracy.fp + accuracy.tn))
    for pattern, seen in sorted(accuracy.by_pattern.items()):
        rates[f"detection.{pattern}"] = ("detection", Proportion(seen.flagged, seen.seen))
    return rates


def _latency(figures: RunFigures) -> dict[str, float | None]:
    if figures.latency_ms is not None:
        return figures.latency_ms
    recorded = figures.summary.latency_ms
    return {key: getattr(recorded, key) for key in LATENCY_KEYS}


def compare_runs(
    baseline: RunFigures, candidate: RunFigures, rules: Sequence[RegressionRule] = (),
) -> Comparison:
    """Side by side, with noise tests and the rules judged; DifferentScenarios when the two
    runs ran different scenarios."""
    if baseline.summary.scenario != candidate.summary.scenario:
        raise DifferentScenarios(
            f"runs of different scenarios cannot be compared: {baseline.summary.run_id} ran "
            f"{baseline.summary.scenario!r}, {candidate.summary.run_id} ran "
            f"{candidate.summary.scenario!r}"
        )
    comparison = Comparison(baseline, candidate)
    b, c = baseline.summary, candidate.summary
    comparison.metrics.append(
        MetricDelta("achieved_tps", "load", b.load.achieved_tps_avg, c.load.achieved_tps_avg))
    latency_noise = None
    if baseline.distribution is not None and candidate.distribution is not None:
        latency_noise = kolmogorov_smirnov(baseline.distribution, candidate.distribution)
    b_latency, c_latency = _latency(baseline), _latency(candidate)
    for key in LATENCY_KEYS:
        comparison.metrics.append(MetricDelta(
            f"{key}_ms", "latency", b_latency.get(key), c_latency.get(key), latency_noise))
    b_rates, c_rates = _proportions(b), _proportions(c)
    for name in [*b_rates, *(n for n in c_rates if n not in b_rates)]:
        group = (b_rates.get(name) or c_rates[name])[0]
        b_rate = b_rates.get(name, (group, Proportion(0, 0)))[1]
        c_rate = c_rates.get(name, (group, Proportion(0, 0)))[1]
        comparison.metrics.append(MetricDelta(
            name, group, b_rate.rate, c_rate.rate, two_proportion_z(b_rate, c_rate)))
    comparison.metrics.append(MetricDelta(
        "cost_per_transaction", "cost", b.business.cost_per_transaction,
        c.business.cost_per_transaction))
    comparison.metrics += _agent_shares(b, c) + _fault_times(b, c)
    comparison.phases, comparison.phase_note = compare_phases(baseline, candidate)
    comparison.rules = [judge_rule(rule, comparison) for rule in rules]
    return comparison


def agent_shares(summary: RunSummary) -> dict[str, float]:
    """Each agent's share of the time the agents spent (calls x mean latency), 0..1."""
    spent = {name: agent.calls * agent.avg_ms for name, agent in summary.agents.items()
             if agent.avg_ms is not None}
    total = sum(spent.values())
    return {name: value / total for name, value in sorted(spent.items())} if total else {}


def _agent_shares(b: RunSummary, c: RunSummary) -> list[MetricDelta]:
    b_shares, c_shares = agent_shares(b), agent_shares(c)
    names = sorted({*b_shares, *c_shares})
    return [MetricDelta(f"agent_share.{name}", "agents", b_shares.get(name),
                        c_shares.get(name)) for name in names]


def _fault_times(b: RunSummary, c: RunSummary) -> list[MetricDelta]:
    """Time to detect and to recover of each fault, paired by number and type."""
    rows = []
    theirs = {(f.number, f.type): f for f in c.faults}
    for fault in b.faults:
        other = theirs.get((fault.number, fault.type))
        if other is None:
            continue
        name = f"fault.{fault.number}.{fault.type}"
        rows.append(MetricDelta(f"{name}.time_to_detect_s", "faults", fault.time_to_detect_s,
                                other.time_to_detect_s))
        rows.append(MetricDelta(f"{name}.time_to_recover_s", "faults",
                                fault.time_to_recover_s, other.time_to_recover_s))
    return rows


def _phase_metrics(b: PhaseFigures, c: PhaseFigures) -> list[MetricDelta]:
    metrics = [MetricDelta("duration_s", "load", b.window.end_s - b.window.start_s,
                           c.window.end_s - c.window.start_s),
               MetricDelta("achieved_tps", "load", b.achieved_tps, c.achieved_tps)]
    noise = None
    if b.distribution is not None and c.distribution is not None:
        noise = kolmogorov_smirnov(b.distribution, c.distribution)
    for key in ("p50", "p95", "p99"):
        metrics.append(MetricDelta(
            f"{key}_ms", "latency", (b.latency_ms or {}).get(key), (c.latency_ms or {}).get(key),
            noise))
    for name, b_rate, c_rate in (
        ("error_rate", Proportion(b.failed, b.sent), Proportion(c.failed, c.sent)),
        ("timeout_rate", Proportion(b.timeouts, b.sent), Proportion(c.timeouts, c.sent)),
        ("accuracy", Proportion(b.correct, b.labelled), Proportion(c.correct, c.labelled)),
    ):
        metrics.append(MetricDelta(name, "accuracy" if name == "accuracy" else "errors",
                                   b_rate.rate, c_rate.rate, two_proportion_z(b_rate, c_rate)))
    return metrics


def compare_phases(baseline: RunFigures, candidate: RunFigures
                   ) -> tuple[list[PhaseComparison], str]:
    """The two runs phase by phase (paired by position: a scaled run plays the same phases
    for longer or shorter), and a line saying how or why not."""
    if baseline.phases is None or candidate.phases is None:
        return [], "per-phase figures need both runs' per-second series (runs from the store)"
    pairs = paired_phases([p.window for p in baseline.phases],
                          [p.window for p in candidate.phases])
    if pairs is None:
        return [], (f"the runs have {len(baseline.phases)} and {len(candidate.phases)} phases; "
                    "not compared phase by phase")
    rows = [PhaseComparison(baseline.phases[i].window.name, baseline.phases[i].window,
                            candidate.phases[j].window,
                            _phase_metrics(baseline.phases[i], candidate.phases[j]))
            for i, j in pairs]
    return rows, f"{len(rows)} phases paired in order; each phase's rate is per its own seconds"


def judge_against(
    asked: str, rules: Sequence[RegressionRule], baseline: RunFigures | None,
    candidate: RunFigures, note: str,
) -> RegressionCheck:
    """The run's regression rules judged against its baseline, as summary.json records it;
    with no baseline nothing is judged and the note says why."""
    if baseline is None:
        return RegressionCheck(asked=asked, baseline_run_id=None, judged=False, note=note,
                               rules=[], regressed=False)
    verdicts = compare_runs(baseline, candidate, rules).rules
    return RegressionCheck(
        asked=asked, baseline_run_id=baseline.summary.run_id, judged=True, note=note,
        rules=[RegressionRuleResult(rule=v.rule.expr, metric=v.rule.metric, baseline=v.baseline,
                                    candidate=v.candidate, change=v.change, broken=v.broken,
                                    reason=v.reason) for v in verdicts],
        regressed=any(v.broken for v in verdicts))


def judge_rule(rule: RegressionRule, comparison: Comparison) -> RuleVerdict:
    """A rule breaks when the candidate moved the worse way by more than its amount."""
    metric = comparison.metric(rule.metric)
    b, c = metric.baseline, metric.candidate
    if b is None or c is None:
        return RuleVerdict(rule, b, c, None, False, "not measured on both runs; not judged")
    direction = 1 if rule.worse == "up" else -1
    if rule.unit == "pp":
        change = (c - b) * 100 * direction
    elif b == 0:
        change = math.inf if (c - b) * direction > 0 else 0.0
    else:
        change = (c - b) / abs(b) * 100 * direction
    broken = change > rule.amount
    unit = "pp" if rule.unit == "pp" else "%"
    worse = "worse" if change > 0 else "not worse"
    shown = "from zero" if math.isinf(change) else f"{abs(change):.3g}{unit} {worse}"
    limit = f"{rule.amount:g}{unit}"
    reason = f"{shown} (limit {limit})"
    return RuleVerdict(rule, b, c, None if math.isinf(change) else change, broken, reason)
