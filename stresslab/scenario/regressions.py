"""Regression rules as written in a scenario beside its criteria: `p95_ms +10%`,
`error_rate +0.05pp`, `accuracy -1pp`, `achieved_tps -2%`. The sign says which way is worse:
a rule breaks when the candidate moves that way by more than the amount."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

# metric -> True when it is a rate (a share of 0..1), which alone may take `pp`
REGRESSION_METRICS: dict[str, bool] = {
    "achieved_tps": False,
    "avg_ms": False, "p50_ms": False, "p90_ms": False, "p95_ms": False, "p99_ms": False,
    "p999_ms": False, "max_ms": False,
    "error_rate": True, "timeout_rate": True, "throttle_rate": True,
    "accuracy": True, "precision": True, "recall": True, "false_positive_rate": True,
    "cost_per_transaction": False,
}

_RULE = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s+(?P<sign>[+-])\s*"
    r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>%|pp)\s*$"
)


class RegressionRule(BaseModel):
    """How far a metric may move the wrong way against the baseline: `relative` (%) of the
    baseline's value, or `points` (pp, percentage points of a rate)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    expr: str
    metric: str
    worse: Literal["up", "down"]
    amount: float
    unit: Literal["%", "pp"]

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_rule(value).model_dump()
        return value


def parse_rule(expr: str) -> RegressionRule:
    """`metric +N%` / `metric -Npp`; ValueError, one line naming the rule, otherwise."""
    match = _RULE.match(expr)
    if not match:
        raise ValueError(
            f"cannot parse regression rule {expr!r}: expected 'metric +N%' or 'metric -Npp', "
            f"e.g. 'p95_ms +10%'"
        )
    metric, unit = match.group("metric"), match.group("unit")
    if metric not in REGRESSION_METRICS:
        known = ", ".join(sorted(REGRESSION_METRICS))
        raise ValueError(f"unknown metric {metric!r} in regression rule {expr!r}; known: {known}")
    if unit == "pp" and not REGRESSION_METRICS[metric]:
        raise ValueError(f"regression rule {expr!r}: 'pp' only applies to rates, use '%'")
    return RegressionRule.model_construct(
        expr=expr.strip(), metric=metric, worse="up" if match.group("sign") == "+" else "down",
        amount=float(match.group("number")), unit="pp" if unit == "pp" else "%",
    )
