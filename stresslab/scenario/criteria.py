"""Success criteria as written in a scenario: threshold expressions (`p95_ms < 2000`) and the
window each is judged on (the run, a phase, a time window, each fault)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stresslab.scenario.durations import parse_duration

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
_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[a-z_][a-z0-9_]*)\s*(?P<op><=|>=|==|!=|<|>)\s*"
    r"(?P<number>-?[0-9][0-9_]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)\s*(?P<unit>%|ms|s)?\s*$"
)
_UNIT_FACTOR = {"%": 0.01, "ms": 1.0, "s": 1000.0}


class Threshold(BaseModel):
    """A parsed expression: metric, operator, number."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

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


FaultPhase = Literal["during", "after"]


class FaultRef(BaseModel):
    """Which faults a criterion is judged on: every one, the Nth to start (from 1), or a label;
    `offset_s` is the length of an `after` window."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    which: int | str | None = None
    offset_s: float | None = None

    def render(self) -> str:
        head = "fault" if self.which is None else f"fault:{self.which}"
        return head if self.offset_s is None else f"{head} + {self.offset_s:g}s"


def is_fault_ref(text: str) -> bool:
    """`fault`, `fault:2`, `fault:<label>`, with or without `+ 60s`; anything else is a phase."""
    head = text.strip()
    return head == "fault" or head.startswith(("fault:", "fault+", "fault +"))


def _offset(text: str, field: str) -> tuple[str, float | None]:
    """Split `head + duration`; a `+` inside a label (`fault:A+B`) stays in the label."""
    head, plus, tail = text.rpartition("+")
    if not plus:
        return text, None
    try:
        offset = parse_duration(tail)
    except ValueError:
        if head.strip().startswith("fault:"):
            return text, None
        raise ValueError(
            f"{field}: cannot read the offset in {text!r}; e.g. 'fault + 60s'"
        ) from None
    if offset <= 0:
        raise ValueError(f"{field}: the offset in {text!r} must be greater than 0")
    if field != "after":
        raise ValueError(f"{field}: an offset ({text!r}) only applies to 'after'")
    return head.strip(), offset


def parse_fault_ref(text: str, field: str) -> FaultRef:
    """Parse `fault[:N|:label][ + duration]`; ValueError naming the field otherwise."""
    head, offset = _offset(text.strip(), field)
    if head == "fault":
        return FaultRef(which=None, offset_s=offset)
    if not head.startswith("fault:") or not head[6:].strip():
        raise ValueError(
            f"{field}: expected 'fault', 'fault:<number>' or 'fault:<label>', got {text!r}"
        )
    which = head[6:].strip()
    if which.isdigit():
        if int(which) < 1:
            raise ValueError(f"{field}: faults are numbered from 1, got {text!r}")
        return FaultRef(which=int(which), offset_s=offset)
    return FaultRef(which=which, offset_s=offset)


class Criterion(BaseModel):
    """A threshold judged over the whole run, a named phase, a time window, or each fault.

    `during: fault` (or `fault:2`, `fault:<label>`) judges each selected fault on the seconds
    it was active; `after: fault + 60s` on the 60 s that follow its end (without an offset:
    until the next fault starts or the run ends).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    expr: str
    during: str | None = Field(
        default=None, description="a phase name, or 'fault' / 'fault:N' / 'fault:<label>'"
    )
    after: str | None = Field(
        default=None, description="'fault + 60s': from each fault's end to 60 s after it"
    )
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
        timed = self.start is not None or self.end is not None
        if self.during is not None and timed:
            raise ValueError("give either 'during' (a phase or a fault) or 'start'/'end', not both")
        if self.after is not None:
            if self.during is not None or timed:
                raise ValueError("give 'after' alone, without 'during', 'start' or 'end'")
            if not is_fault_ref(self.after):
                raise ValueError(
                    f"after: expected 'fault + <duration>' (or 'fault:N + ...'), got {self.after!r}"
                )
            parse_fault_ref(self.after, "after")
        elif self.during is not None and is_fault_ref(self.during):
            parse_fault_ref(self.during, "during")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("'end' must be after 'start'")
        return self

    @property
    def threshold(self) -> Threshold:
        return parse_threshold(self.expr)

    @property
    def phase(self) -> str | None:
        """The load phase it is judged on, if any."""
        if self.during is None or is_fault_ref(self.during):
            return None
        return self.during

    @property
    def fault(self) -> tuple[FaultPhase, FaultRef] | None:
        """('during' or 'after', which faults) for a criterion judged per fault."""
        if self.after is not None:
            return "after", parse_fault_ref(self.after, "after")
        if self.during is not None and is_fault_ref(self.during):
            return "during", parse_fault_ref(self.during, "during")
        return None

    @property
    def run_wide(self) -> bool:
        return self.during is None and self.after is None and self.start is None \
            and self.end is None

    @property
    def window_label(self) -> str:
        fault = self.fault
        if fault is not None:
            kind, ref = fault
            return f"during {ref.render()}" if kind == "during" else f"after {ref.render()}"
        if self.during:
            return f"phase {self.during}"
        if self.start is not None or self.end is not None:
            start = f"{self.start:g}s" if self.start is not None else "0s"
            end = f"{self.end:g}s" if self.end is not None else "end"
            return f"{start}-{end}"
        return "run"

    def scaled(self, time_scale: float) -> Criterion:
        after = self.after
        fault = self.fault
        offset = fault[1].offset_s if fault is not None and fault[0] == "after" else None
        if fault is not None and offset is not None:
            after = fault[1].model_copy(update={"offset_s": offset * time_scale}).render()
        return self.model_copy(
            update={
                "start": None if self.start is None else self.start * time_scale,
                "end": None if self.end is None else self.end * time_scale,
                "after": after,
            }
        )
