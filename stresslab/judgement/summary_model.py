"""The summary.json wire format (stresslab.summary/v1) as pydantic models, written and read
through them; docs/summary.schema.json is generated from RunSummary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from stresslab.judgement.criteria import CriterionResult
from stresslab.judgement.readable import READING, Readable
from stresslab.targets.identity import TargetIdentity

SUMMARY_SCHEMA: Literal["stresslab.summary/v1"] = "stresslab.summary/v1"
SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "summary.schema.json"

# A value a runtime records as it measured it: an integer stays an integer on the wire.
Number = int | float


class _Part(Readable):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Load(_Part):
    """The offered load: planned against achieved, averaged over the run's length."""

    target_tps_avg: float
    achieved_tps_avg: float
    peak_tps: int = Field(description="most requests sent in one second")
    rate_error_pct: float | None = Field(description="achieved against target, in percent; "
                                                     "null when nothing was planned")
    planned: int = Field(description="requests the plan scheduled")


class RateLimit(_Part):
    """The first stretch planned at or above the held rate that did not hold, what broke
    there, and how many such stretches did not hold."""

    start_s: int
    end_s: int
    planned_tps: float
    achieved_tps: float
    broken: list[str] = Field(description="each reason in one line: dropped arrivals, the "
                                           "plan not sent, a criterion and its observation")
    broken_stretches: int = Field(description="stretches planned at or above the held rate "
                                              "that did not hold")
    of_stretches: int = Field(description="stretches planned at or above the held rate")


class HeldRate(_Part):
    """The highest rate the run held (judgement/held_rate.py): the busiest stretch of
    `window_s` seconds that dropped nothing, sent within 1% of its plan and met every run-wide
    criterion on the target's answers."""

    tps: float | None = Field(description="null when no stretch held")
    start_s: int | None
    end_s: int | None
    window_s: int
    limit: RateLimit | None = Field(description="null when no stretch planned at or above "
                                                             "it broke")


class Counts(_Part):
    """Exact counts: scheduled = sent + dropped, sent = ok + errors + timeouts."""

    scheduled: int
    sent: int
    ok: int
    errors: int
    timeouts: int
    dropped: int = Field(description="scheduled but never sent (the worker fell behind)")
    undelivered: int = Field(description="sent but never reached the target (no connection "
                                         "in time); counted as timeouts or errors")
    target_received: int | None = Field(description="the target's own count, when it reports "
                                                    "one")
    errors_by_class: dict[str, int] = Field(description="every class of "
                                                        "measurement.metrics.ERROR_CLASSES")
    reconciled: bool = Field(description="the counts add up, and the target's count equals "
                                         "sent - undelivered")
    duplicate_batches: int = Field(description="metrics batches delivered twice and dropped")


class InvalidResponses(_Part):
    """Answers that came back without a decision the target's response mapping could read."""

    count: int
    samples: list[str] = Field(description="up to three answers, truncated, secrets masked")


class LatencyMs(_Part):
    """End-to-end latency in ms, measured from each request's intended send time."""

    avg: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None


class ScheduleLagMs(_Part):
    """How late requests left the worker against their intended send time, in ms."""

    p50: float
    p99: float
    max: float


class PatternDetection(_Part):
    seen: int
    flagged: int
    detection_rate: float | None


class Accuracy(_Part):
    """The target's decisions against the generator's ground truth."""

    labelled: int
    accuracy: float | None
    precision: float | None
    recall: float | None
    false_positive_rate: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    by_pattern: dict[str, PatternDetection] = Field(description="per ground-truth label")


class Business(_Part):
    """What the run was worth, in the reporting currency (amounts rounded to cents)."""

    fraud_detected: int
    fraud_prevented_amount: float
    fraud_missed_amount: float
    false_positive_amount: float
    currency: str
    cost_per_transaction: float
    total_cost: float
    roi_pct: float | None
    compute_ms_per_transaction: float | None
    pricing_source: str
    cost_basis: Literal["modelled", "reported"] = Field(
        default="modelled", description="modelled: tokens from a declared usage per agent call")
    cost_model: str | None = Field(default=None, description="how the cost was estimated")


class AgentStats(_Part):
    """One agent's calls as the target reported them."""

    calls: int
    errors: int
    avg_ms: float | None
    p95_ms: float | None


class FaultBaseline(_Part):
    seconds: int = Field(description="clean seconds before the fault the baseline holds")
    error_rate: float | None
    p95_ms: float | None


_RECORD_ONLY = ("intensity", "planned_start_s", "planned_end_s", "status")


class FaultEntry(Readable):
    """One fault: the runtime's record (extra keys, e.g. AWS FIS's template_id, are kept)
    plus what resilience measured and its per-fault verdicts."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    type: str
    label: str
    target: str | None
    intensity: Number | None = None
    planned_start_s: Number | None = None
    planned_end_s: Number | None = None
    start_s: Number | None = Field(description="observed start (null: never injected)")
    end_s: Number | None
    status: str | None = None
    number: int = Field(description="1-based, in the plan's order, then faults by hand")
    timing: Literal["planned", "observed"] | None = Field(
        description="which times it was measured on; null: not measured")
    time_to_detect_s: float | None
    time_to_recover_s: float | None
    detected_at_s: float | None
    recovered_at_s: float | None
    affected: int | None
    lost: int | None
    dropped: int | None
    error_budget_spent_pct: float | None
    accuracy_before: float | None
    accuracy_during: float | None
    accuracy_after: float | None
    baseline: FaultBaseline | None
    criteria: list[CriterionResult]
    passed: bool | None = Field(description="null: nothing to judge (never injected)")

    _order: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        entry: FaultEntry = handler(data)
        if isinstance(data, dict):
            entry._order = tuple(data)
        return entry

    @model_serializer(mode="wrap")
    def _as_recorded(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written as the runtime recorded it: its keys in its order (each runtime has its own),
        # the record's own fields only when it has them.
        data: dict[str, Any] = handler(self)
        for name in _RECORD_ONLY:
            if name not in self.model_fields_set:
                data.pop(name, None)
        ordered = {key: data.pop(key) for key in self._order if key in data}
        return {**ordered, **data}


class WorkersReport(_Part):
    expected: int
    finished: int
    failed: list[str] = Field(description="workers that died or never reported")


class DegradationChange(_Part):
    at_s: float
    level: str
    previous: str
    reason: str
    applied: bool = Field(description="the level was sent to the target's admin API")


class PhaseWindow(_Part):
    """One load phase as the run played it: where it starts and ends, in run seconds."""

    name: str = Field(description="the scenario's phase name; 'phase N' (1-based) when unnamed")
    start_s: float
    end_s: float


class RegressionRuleResult(_Part):
    """One `regressions:` rule judged against the baseline run."""

    rule: str
    metric: str
    baseline: float | None
    candidate: float | None
    change: float | None = Field(description="in the rule's unit (% or pp), positive = worse")
    broken: bool
    reason: str


class RegressionCheck(_Part):
    """The scenario's regression rules judged against a baseline (`--baseline`)."""

    asked: str = Field(description="what --baseline named: a run id, a folder, or last-pass")
    baseline_run_id: str | None = Field(description="null: no baseline found, nothing judged")
    judged: bool
    note: str = Field(description="where the baseline came from, or why nothing was judged")
    rules: list[RegressionRuleResult]
    regressed: bool = Field(description="a rule broke; the run exits 1 (passed is unchanged)")


class RunSummary(Readable):
    """What a run did, judged against its criteria: summary.json."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)

    schema_: Literal["stresslab.summary/v1"] = Field(default=SUMMARY_SCHEMA, alias="schema")
    run_id: str
    scenario: str
    description: str
    target: str
    system_under_test: TargetIdentity | None = Field(
        default=None, description="the target as pages name it; null in summaries before it")
    started_at: str
    ended_at: str
    duration_s: float
    time_scale: float
    load_scale: float
    seed: int
    workers: int = Field(description="shards the plan spread the load over")
    status: str = Field(description="completed, aborted, failed, ...")
    load: Load
    held_rate: HeldRate | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="the highest rate held and the limit above it; absent in summaries "
                    "written before it existed")
    counts: Counts
    invalid_responses: InvalidResponses | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="only in runs whose target section maps the answer and some were not read")
    latency_ms: LatencyMs
    schedule_lag_ms: ScheduleLagMs | None
    accuracy: Accuracy
    decisions: dict[str, int] = Field(description="the target's decisions by value, sorted")
    business: Business
    agents: dict[str, AgentStats]
    faults: list[FaultEntry]
    workers_report: WorkersReport
    notes: list[str] = Field(description="side work that did not go as planned, bounds hit")
    degradation: list[DegradationChange]
    criteria: list[CriterionResult] = Field(description="in the scenario's order; a fault "
                                                        "criterion once per fault it selects")
    passed: bool = Field(description="completed, reconciled, every criterion and fault passed")
    phases: list[PhaseWindow] | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="the load phases in run seconds (runs that record them); compare aligns "
                    "two runs phase by phase")
    regression: RegressionCheck | None = Field(
        default=None, exclude_if=lambda value: value is None,
        description="only in runs started with --baseline: the regression rules judged")

    def to_json_dict(self) -> dict[str, Any]:
        """The summary as summary.json holds it."""
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """summary.json's text."""
        return json.dumps(self.to_json_dict(), indent=2) + "\n"

    @property
    def failed_criteria(self) -> list[CriterionResult]:
        return [c for c in self.criteria if not c.passed]


def read_summary(data: Any) -> RunSummary:
    """A summary as recorded, in reading mode (judgement/readable.py): whatever it lacks or
    holds in a form this version cannot read is not recorded; ValueError when not an object."""
    try:
        return RunSummary.model_validate(data, context=READING)
    except ValidationError as error:
        raise ValueError(f"not a {SUMMARY_SCHEMA} summary: {_first_problem(error)}") from None


def load_summary(path: Path) -> RunSummary:
    """A summary.json file; ValueError with one line when it is not one."""
    try:
        return RunSummary.model_validate_json(path.read_bytes())
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    except ValueError as error:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"{path}: not a {SUMMARY_SCHEMA} summary: {_first_problem(error)}") \
            from None


def _first_problem(error: ValueError) -> str:
    errors = getattr(error, "errors", None)
    if not callable(errors):
        return str(error).splitlines()[0]
    first = errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "summary"
    return f"{where}: {first['msg']}"


def json_schema() -> dict[str, Any]:
    """The schema of a summary as read (a fault entry's serializer hides its fields from the
    serialization schema); `schema` is always written, so it is required."""
    schema = RunSummary.model_json_schema(by_alias=True, mode="validation")
    schema["required"] = ["schema", *schema["required"]]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": SUMMARY_SCHEMA, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text())
    print(f"wrote {SCHEMA_FILE}")
