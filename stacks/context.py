"""Typed CDK context for stresslab: the deploy-time settings read from cdk.json and -c flags."""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from constructs import Node
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stresslab.targets.config import TARGET_KINDS, TargetSpec

# Our keys are snake_case; feature flags ("@aws-cdk/...") and CDK internals ("aws:cdk:...")
# never are, so a snake_case key we do not know is a typo and must not be silently ignored.
_OWN_KEY = re.compile(r"^[a-z][a-z0-9_]*$")

# Kinesis accepts 24 hours to 365 days of retention.
_KINESIS_MIN_RETENTION_HOURS = 24
_KINESIS_MAX_RETENTION_HOURS = 8760

# The retention periods CloudWatch Logs accepts, by the name aws_logs.RetentionDays gives them.
LOG_RETENTION_NAMES = {
    1: "ONE_DAY", 3: "THREE_DAYS", 5: "FIVE_DAYS", 7: "ONE_WEEK", 14: "TWO_WEEKS",
    30: "ONE_MONTH", 60: "TWO_MONTHS", 90: "THREE_MONTHS", 120: "FOUR_MONTHS",
    150: "FIVE_MONTHS", 180: "SIX_MONTHS", 365: "ONE_YEAR", 400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS", 731: "TWO_YEARS", 1096: "THREE_YEARS", 1827: "FIVE_YEARS",
    2192: "SIX_YEARS", 2557: "SEVEN_YEARS", 2922: "EIGHT_YEARS", 3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}

# The state machine launches each wave's workers before the previous wave ends, so two waves'
# workers run at once for a while.
_OVERLAPPING_WAVES = 2

_LAMBDA_ARN = r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}$"
_AGENT_NAME = r"^[a-z][a-z0-9_]{0,39}$"

_KINESIS_ARN = r"^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream/[A-Za-z0-9_.-]{1,128}$"
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
_TABLE_NAME = r"^[A-Za-z0-9_.-]{3,255}$"
_SUBNET_ID = r"^subnet-[0-9a-f]{8,17}$"

AgentName = Annotated[str, Field(pattern=_AGENT_NAME)]
LambdaArn = Annotated[str, Field(pattern=_LAMBDA_ARN)]
KinesisArn = Annotated[str, Field(pattern=_KINESIS_ARN)]
RoleArn = Annotated[str, Field(pattern=_ROLE_ARN)]
TableName = Annotated[str, Field(pattern=_TABLE_NAME)]
SubnetId = Annotated[str, Field(pattern=_SUBNET_ID)]

# FAULT_TEMPLATES names the template of a fault over every target by its type alone, so no
# target may be called this.
ALL_TARGETS = "all"


def stream_name(stream_arn: str) -> str:
    """The name of a Kinesis stream from its ARN."""
    return stream_arn.rsplit("/", 1)[1]


class WatchedMetric(BaseModel):
    """One CloudWatch metric the infrastructure-metrics function reads for the admin page.

    The fields of stresslab.aws.infra.WatchedMetric less `id`, which the stack assigns; with
    `price` (an entry of config/pricing.yaml) its usage is costed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    namespace: Annotated[str, Field(min_length=1)]
    metric: Annotated[str, Field(min_length=1)]
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: Annotated[str, Field(min_length=1)] = "Sum"
    period: Annotated[int, Field(ge=60)] = 60
    label: str = ""
    price: str | None = None
    scale: float = 1.0


class StresslabContext(BaseModel):
    """Deploy-time settings; every field is a context key of the same name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env_name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,15}$")] = "dev"
    metrics_retention_hours: Annotated[
        int, Field(ge=_KINESIS_MIN_RETENTION_HOURS, le=_KINESIS_MAX_RETENTION_HOURS)
    ] = 24
    metrics_stream_mode: Literal["on_demand", "provisioned"] = "on_demand"
    metrics_shard_count: Annotated[int | None, Field(ge=1, le=500)] = None
    results_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    access_log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    log_retention_days: int = 30
    max_tps: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_duration_s: Annotated[int, Field(ge=1, le=86_400)] = 7_200

    # Load generators (one Lambda invocation per shard and wave).
    max_workers: Annotated[int, Field(ge=1, le=5_000)] = 100
    worker_memory_mb: Annotated[int, Field(ge=128, le=10_240)] = 1_769
    worker_reserved_concurrency: Annotated[int | None, Field(ge=1, le=10_000)] = None

    # The platform under test and the faults injected into it (docs/faults.md).
    platform_function_arns: dict[AgentName, LambdaArn] = Field(default_factory=dict)
    target_stream_arns: list[KinesisArn] = Field(default_factory=list)
    target_stream_consumer_roles: dict[KinesisArn, RoleArn] = Field(default_factory=dict)
    platform_table_names: list[TableName] = Field(default_factory=list)
    platform_subnet_ids: list[SubnetId] = Field(default_factory=list)
    fault_error_percentage: Annotated[int, Field(ge=1, le=100)] = 50
    fault_delay_ms: Annotated[int, Field(ge=1, le=900_000)] = 1_000
    fault_throttle_percentage: Annotated[int, Field(ge=1, le=100)] = 30
    fault_store_capacity_units: Annotated[int, Field(ge=1, le=40_000)] = 1
    # FIS stops an experiment on these blast-radius alarms (3 consecutive minutes above), which
    # sit above what the faults themselves cause; 100% errors never breaches (docs/faults.md).
    fault_stop_error_rate_pct: Annotated[float, Field(gt=0, le=100)] = 95.0
    fault_stop_p99_ms: Annotated[int, Field(gt=0)] = 30_000
    watched_metrics: list[WatchedMetric] = Field(default_factory=list)
    # The scenarios' targets (issue 10): the load generators may call these and nothing else of
    # the platform's. A list of `target:` sections as JSON, or a scenario file whose section
    # is added (docs/targets-aws.md).
    targets: list[TargetSpec] = Field(default_factory=list)
    target_scenario: str | None = None

    # Safety: the design brief's alert thresholds on the live metrics, and the budget.
    critical_error_rate_pct: Annotated[float, Field(gt=0, le=100)] = 1.0
    critical_p99_ms: Annotated[int, Field(gt=0)] = 10_000
    warning_error_rate_pct: Annotated[float, Field(gt=0, le=100)] = 0.1
    warning_p99_ms: Annotated[int, Field(gt=0)] = 5_000
    budget_usd_per_month: Annotated[float, Field(gt=0, le=1_000_000)] = 500.0
    alert_email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None

    # Lambda runtime pieces that are not in the asset.
    powertools_version: Annotated[str, Field(pattern=r"^\d+\.\d+\.\d+$")] = "3.37.0"

    # Optional second stack: the reference fraud service behind an HTTP API.
    deploy_reference_target: bool = False
    # Its function's reserved concurrency: what a run against it may take of the account's, so
    # Stop, cleanup and the rest of the account are never starved.
    reference_target_concurrency: Annotated[int, Field(ge=1, le=10_000)] = 100
    reference_target_bedrock: bool = False
    bedrock_model_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] = (
        "amazon.nova-micro-v1:0"
    )

    @model_validator(mode="before")
    @classmethod
    def _scenario_target_joins_targets(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or raw.get("target_scenario") is None:
            return raw
        path = Path(str(raw["target_scenario"]))
        try:
            scenario = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise ValueError(f"target_scenario: cannot read {path}: {reason}") from None
        section = scenario.get("target") if isinstance(scenario, dict) else None
        if section is None:
            raise ValueError(f"target_scenario: {path} has no target section")
        targets = raw.get("targets") or []
        return {**raw, "targets": [*targets, section]}

    @model_validator(mode="after")
    def _shard_count_only_when_provisioned(self) -> Self:
        if self.metrics_shard_count is not None and self.metrics_stream_mode != "provisioned":
            raise ValueError(
                "metrics_shard_count applies only when metrics_stream_mode is 'provisioned'"
            )
        return self

    @model_validator(mode="after")
    def _agent_names_leave_all_for_every_function(self) -> Self:
        if ALL_TARGETS in self.platform_function_arns:
            raise ValueError(
                "platform_function_arns: 'all' names the templates that target every function"
            )
        return self

    @model_validator(mode="after")
    def _fault_targets_have_distinct_names(self) -> Self:
        # A scenario names a fault's target by its bare name: an agent, a stream or a table.
        agents = set(self.platform_function_arns)
        streams = [stream_name(arn) for arn in self.target_stream_arns]
        for stream in streams:
            if stream in agents or stream == ALL_TARGETS:
                raise ValueError(
                    f"target_stream_arns: stream '{stream}' has the name of an agent or 'all'; "
                    "a fault's target could not tell them apart"
                )
        if ALL_TARGETS in self.platform_table_names:
            raise ValueError("platform_table_names: 'all' names the template of every table")
        return self

    @model_validator(mode="after")
    def _consumer_roles_belong_to_target_streams(self) -> Self:
        unknown = sorted(set(self.target_stream_consumer_roles) - set(self.target_stream_arns))
        if unknown:
            raise ValueError(
                f"target_stream_consumer_roles: {unknown[0]} is not one of target_stream_arns"
            )
        return self

    @model_validator(mode="after")
    def _log_retention_is_one_cloudwatch_accepts(self) -> Self:
        if self.log_retention_days not in LOG_RETENTION_NAMES:
            raise ValueError(f"log_retention_days must be one of {sorted(LOG_RETENTION_NAMES)}")
        return self

    @model_validator(mode="after")
    def _reserved_concurrency_covers_every_worker(self) -> Self:
        if (
            self.worker_reserved_concurrency is not None
            and self.worker_reserved_concurrency < _OVERLAPPING_WAVES * self.max_workers
        ):
            raise ValueError(
                "worker_reserved_concurrency must be at least twice max_workers: the next wave "
                "starts before the last one ends"
            )
        return self

    @model_validator(mode="after")
    def _warnings_come_before_criticals(self) -> Self:
        if self.warning_error_rate_pct >= self.critical_error_rate_pct:
            raise ValueError("warning_error_rate_pct must be below critical_error_rate_pct")
        if self.warning_p99_ms >= self.critical_p99_ms:
            raise ValueError("warning_p99_ms must be below critical_p99_ms")
        return self

    @model_validator(mode="after")
    def _bedrock_model_takes_the_nova_body(self) -> Self:
        # The reference target's Bedrock agent sends Amazon Nova's InvokeModel body.
        if self.reference_target_bedrock and not self.bedrock_model_id.startswith("amazon.nova-"):
            raise ValueError(
                "bedrock_model_id must be an Amazon Nova model (amazon.nova-...) when "
                "reference_target_bedrock is true"
            )
        return self

    @model_validator(mode="after")
    def _fault_stops_sit_above_what_the_faults_cause(self) -> Self:
        injected = max(self.fault_error_percentage, self.fault_throttle_percentage)
        if self.fault_stop_error_rate_pct <= injected:
            raise ValueError(
                f"fault_stop_error_rate_pct must be above the {injected}% errors the faults "
                "inject, or each fault would stop itself"
            )
        slowest = self.critical_p99_ms + self.fault_delay_ms
        if self.fault_stop_p99_ms <= slowest:
            raise ValueError(
                f"fault_stop_p99_ms must be above critical_p99_ms + fault_delay_ms ({slowest} "
                "ms), or a latency fault would stop itself"
            )
        return self

    @property
    def stack_name(self) -> str:
        return f"stresslab-{self.env_name}"

    @property
    def reference_target_stack_name(self) -> str:
        return f"stresslab-{self.env_name}-reference-target"

    @property
    def shard_count(self) -> int:
        return self.metrics_shard_count or 1

    @property
    def worker_concurrency(self) -> int:
        return self.worker_reserved_concurrency or _OVERLAPPING_WAVES * self.max_workers

    @property
    def metrics_namespace(self) -> str:
        """The CloudWatch namespace the functions publish their metrics in."""
        return f"stresslab/{self.env_name}"


def read_cdk_json_context(cdk_json: Path) -> dict[str, Any]:
    """Return the "context" block of cdk.json, so a plain `python app.py` sees what `cdk` sees."""
    context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    return context


def load_context(node: Node) -> StresslabContext:
    """Validate the app's context; exit with one line naming the bad key if it is invalid."""
    raw = {
        key: _from_cli(value)
        for key, value in node.get_all_context().items()
        if _OWN_KEY.match(key)
    }
    try:
        return StresslabContext.model_validate(raw)
    except ValidationError as error:
        raise SystemExit(_describe(error, raw)) from None


def _from_cli(value: Any) -> Any:
    # `cdk -c key=value` passes strings; a JSON object or list must still reach its model.
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _describe(error: ValidationError, raw: dict[str, Any]) -> str:
    problems = []
    for detail in error.errors():
        parts = [str(part) for part in detail["loc"]]
        if parts[:1] == ["targets"] and len(parts) > 2 and parts[2] in TARGET_KINDS:
            del parts[2]  # pydantic's union tag, not a key the user wrote
        key = ".".join(parts)
        top = str(detail["loc"][0]) if detail["loc"] else ""
        if not key:
            problems.append(detail["msg"].removeprefix("Value error, "))
        elif detail["type"] == "extra_forbidden" and key == top:
            problems.append(f"unknown context key '{key}'")
        else:
            problems.append(f"context key '{key}'={raw.get(top)!r}: {detail['msg']}")
    return "stresslab: invalid CDK context: " + "; ".join(problems)
