"""Configuration of the reference target: capacity, detection rules, decisions, memory."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Whoever spawns the service (the runner) hands it the admin token here, not on the command
# line, where any local user could read it in the process list.
TOKEN_ENV = "STRESSLAB_TARGET_ADMIN_TOKEN"

AgentName = Literal["transaction_analysis", "pattern_velocity", "geographic_risk", "compliance"]
AGENT_NAMES: tuple[AgentName, ...] = (
    "transaction_analysis",
    "pattern_velocity",
    "geographic_risk",
    "compliance",
)


# transaction_analysis weighs a little less: amount outliers alone are often legitimate.
DEFAULT_WEIGHTS: dict[AgentName, float] = {
    "transaction_analysis": 0.9,
    "pattern_velocity": 1.0,
    "geographic_risk": 1.0,
    "compliance": 1.0,
}


class DegradationLevel(StrEnum):
    """How much of the agent pipeline the orchestrator still runs."""

    NONE = "NONE"
    MODERATE = "MODERATE"
    SEVERE = "SEVERE"
    CRITICAL = "CRITICAL"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class AgentConfig(_Strict):
    """Capacity of one agent: parallel slots, waiting room and simulated service time.

    The defaults give each agent about 16 / 3 ms = 5,300 calls a second, the top of what
    one target process is asked to carry, so past it latency rises and then 429s appear.
    """

    concurrency: int = Field(default=16, ge=1, le=100_000)
    max_queue: int = Field(default=128, ge=0, le=1_000_000)
    service_time_ms: float = Field(default=3.0, ge=0, le=60_000, description="lognormal mean")
    service_time_sigma: float = Field(default=0.5, ge=0, le=3)


class DecisionPolicy(_Strict):
    """How agent scores become one risk score and a decision."""

    review_threshold: float = Field(default=0.5, gt=0, le=1)
    block_threshold: float = Field(default=0.8, gt=0, le=1)
    hard_block_score: float = Field(default=0.95, gt=0, le=1)
    weights: dict[AgentName, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Self:
        if self.review_threshold > self.block_threshold:
            raise ValueError("review_threshold must not exceed block_threshold")
        if any(not 0 <= weight <= 1 for weight in self.weights.values()):
            raise ValueError("weights must be within 0..1")
        return self


class VelocityWindow(_Strict):
    """A sliding window bounded both in payload seconds and in share of the run's traffic.

    A card's fair share of traffic is one transaction in `active_cards`; the traffic bound
    keeps windows meaningful whether the run sends ten transactions a second or five
    thousand, and the time bound keeps them meaningful when traffic is sparse.
    """

    seconds: float = Field(gt=0)
    traffic_share: float = Field(gt=0, le=10)
    min_ticks: int = Field(ge=1)
    limit: int = Field(ge=2)

    def ticks(self, active_cards: int) -> float:
        return max(float(self.min_ticks), self.traffic_share * active_cards)


class DetectionRules(_Strict):
    """Thresholds and reference lists the agents score against."""

    tiny_amount_usd: float = Field(default=2.0, ge=0)
    high_value_usd: float = Field(default=300.0, gt=0)
    burst: VelocityWindow = VelocityWindow(seconds=60, traffic_share=0.005, min_ticks=8, limit=3)
    sustained: VelocityWindow = VelocityWindow(
        seconds=600, traffic_share=0.2, min_ticks=128, limit=8
    )
    card_testing: VelocityWindow = VelocityWindow(
        seconds=600, traffic_share=0.05, min_ticks=64, limit=3
    )
    min_history: int = Field(default=3, ge=1)
    amount_anomaly_ratio: float = Field(default=5.0, gt=1)
    large_amount_usd: float = Field(default=10_000, gt=0)
    min_travel_km: float = Field(default=100, ge=0)
    far_travel_km: float = Field(default=300, ge=0)
    impossible_speed_kmh: float = Field(default=1_000, gt=0)
    high_risk_mcc_amount_usd: float = Field(default=1_000, ge=0)
    high_risk_mccs: dict[str, str] = Field(
        default_factory=lambda: {
            "7995": "gambling",
            "7800": "government lottery",
            "7801": "online gambling",
            "7802": "horse and dog racing",
            "6051": "quasi-cash / crypto",
            "6540": "stored-value card load",
            "4829": "money transfer",
            "6211": "securities brokerage",
            "5967": "direct marketing, inbound telemarketing",
            "5993": "cigar and tobacco stores",
        }
    )
    sanctioned_countries: frozenset[str] = frozenset({"KP", "IR", "SY", "CU"})
    high_risk_countries: frozenset[str] = frozenset(
        {"RU", "BY", "MM", "AF", "YE", "VE", "SS", "LY", "SO", "HT", "ML", "NI"}
    )

    def windows(self) -> tuple[VelocityWindow, ...]:
        return (self.burst, self.sustained, self.card_testing)


class MemoryLimits(_Strict):
    """Bounds of the per-card memory, so a long run keeps a flat footprint."""

    max_cards: int = Field(default=50_000, ge=1)
    max_events_per_card: int = Field(default=32, ge=1, le=10_000)
    max_devices_per_card: int = Field(default=8, ge=1)
    max_countries_per_card: int = Field(default=8, ge=1)
    max_places_per_card: int = Field(default=6, ge=1)
    isolate_runs: bool = Field(default=True, description="one memory per run id")


class TargetConfig(_Strict):
    """Every knob of the reference fraud-detection service."""

    agent_defaults: AgentConfig = AgentConfig()
    agents: dict[AgentName, AgentConfig] = Field(default_factory=dict)
    decision: DecisionPolicy = DecisionPolicy()
    rules: DetectionRules = DetectionRules()
    memory: MemoryLimits = MemoryLimits()
    degradation: DegradationLevel = DegradationLevel.NONE
    admin_token: str | None = Field(
        default=None, min_length=16, max_length=256,
        description="bearer token of the admin API; None: a random one is made at start",
    )
    max_faults: int = Field(default=16, ge=1, le=1_000)
    max_added_ms: float = Field(default=30_000, gt=0, le=600_000,
                                description="latency that faults may add in all")
    max_fault_duration_s: float = Field(default=3_600, gt=0, le=86_400)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    max_tracked_runs: int = Field(default=10_000, ge=1)
    seed: int | None = None

    def agent(self, name: AgentName) -> AgentConfig:
        """Capacity of one agent: its override, else the defaults."""
        return self.agents.get(name, self.agent_defaults)
