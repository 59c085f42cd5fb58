"""Success criteria as threshold expressions (`p95_ms < 2000`), judged per window."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stresslab.durations import parse_duration

METRICS: dict[str, str] = {
    "avg_ms": "mean latency from the intended send time (ms)",
    "p50_ms": "median latency (ms)",
    "p90_ms": "90th percentile latency (ms)",
    "p95_ms": "95th percentile latency (ms)",
    "p99_ms": "99th percentile latency (ms)",
    "p999_ms": "99.9th percentile latency (ms)",
    "max_ms": "maximum latency (ms)",
    "error_rate": "(errors + timeouts) / sent",
    "timeout_rate": "timeouts / sent",
    "throttle_rate": "HTTP 429 answers / sent",
    "drop_rate": "dropped / scheduled (the generator's own shortfall)",
    "dropped": "arrivals the generator could not send on time",
    "lost": "sent but never answered or never received by the target",
    "sent": "requests sent",
    "errors": "requests answered with an error",
    "timeouts": "requests that timed out",
    "achieved_tps": "sent per second over the window",
    "rate_error_pct": "|achieved - target| / target x 100",
    "accuracy": "correct decisions / labelled",
    "precision": "true positives / flagged",
    "recall": "true positives / fraud",
    "false_positive_rate": "false positives / legitimate",
    "agent_error_rate": "agent errors / agent calls, as reported by the target",
    "lag_p99_ms": "99th percentile schedule lag of the generator (ms)",
    "latency_drift_pct": "p95 of the last quarter vs the first quarter of the window (%)",
    "memory_growth_pct": "target memory growth after warm-up (%)",
}

Operator = Literal["<", "<=", ">", ">=", "==", "!="]
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<number>-?[0-9][0-9_]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)\s*(?P<unit>%|ms|s)?\s*$"
)
_UNIT_FACTOR = {"%": 0.01, "ms": 1.0, "s": 1000.0}


class Threshold(BaseModel):
    """A parsed expression: metric, operator, number."""

    model_config = ConfigDict(frozen=True)

    metric: str
    op: Operator
    value: float


def parse_threshold(expr: str) -> Threshold:
    """Parse `metric op number[unit]`; ValueError naming what is wrong."""
    match = _EXPRESSION.match(expr)
    if not match:
        raise ValueError(
            f"cannot parse criterion {expr!r}: expected 'metric op number', e.g. 'p95_ms < 2000'"
        )
    metric, op = match.group("metric"), match.group("op")
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise ValueError(f"unknown metric {metric!r} in {expr!r}; known: {known}")
    value = float(match.group("number").replace("_", ""))
    unit = match.group("unit")
    if unit == "%" and metric.endswith("_pct"):
        pass
    elif unit == "%":
        value *= _UNIT_FACTOR[unit]
    elif unit in ("ms", "s"):
        if not metric.endswith("_ms"):
            raise ValueError(f"unit {unit!r} only applies to *_ms metrics, not {metric!r}")
        value *= _UNIT_FACTOR[unit]
    return Threshold(metric=metric, op=op, value=value)


class Criterion(BaseModel):
    """A threshold judged over the whole run, a named phase, or a time window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expr: str
    during: str | None = Field(default=None, description="a phase name; the whole run when absent")
    start: float | None = Field(default=None, ge=0, description="window start (seconds)")
    end: float | None = Field(default=None, gt=0, description="window end (seconds)")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return {"expr": value}
        if isinstance(value, dict):
            value = dict(value)
            for key in ("start", "end"):
                if key in value and value[key] is not None:
                    value[key] = parse_duration(value[key])
        return value

    @model_validator(mode="after")
    def _valid(self) -> Criterion:
        parse_threshold(self.expr)
        if self.during is not None and (self.start is not None or self.end is not None):
            raise ValueError("give either 'during' (a phase) or 'start'/'end', not both")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self

    @property
    def threshold(self) -> Threshold:
        return parse_threshold(self.expr)

    @property
    def window_label(self) -> str:
        if self.during:
            return f"phase {self.during}"
        if self.start is not None or self.end is not None:
            start = f"{self.start:g}s" if self.start is not None else "0s"
            end = f"{self.end:g}s" if self.end is not None else "end"
            return f"{start}-{end}"
        return "run"

    def scaled(self, time_scale: float) -> Criterion:
        return self.model_copy(
            update={
                "start": None if self.start is None else self.start * time_scale,
                "end": None if self.end is None else self.end * time_scale,
            }
        )


class CriterionResult(BaseModel):
    """The verdict on one criterion."""

    expr: str
    window: str
    passed: bool
    observed: float | None


def judge(criterion: Criterion, metrics: Mapping[str, float | None]) -> CriterionResult:
    """Compare the observed metric with the threshold; no observation fails."""
    threshold = criterion.threshold
    observed = metrics.get(threshold.metric)
    passed = observed is not None and _OPERATORS[threshold.op](observed, threshold.value)
    return CriterionResult(
        expr=criterion.expr, window=criterion.window_label, passed=passed, observed=observed
    )
