"""Success criteria judged: a threshold against the metrics observed over its window."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from pydantic import ConfigDict

from stresslab.judgement.readable import Readable
from stresslab.scenario.criteria import Criterion

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class CriterionResult(Readable):
    """The verdict on one criterion."""

    model_config = ConfigDict(allow_inf_nan=False)

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
