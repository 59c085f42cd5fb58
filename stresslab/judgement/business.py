"""Business value of a run: fraud prevented, cost per transaction from a price table, ROI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from stresslab.project_data import PRICING_FILE

NonNegative = Annotated[float, Field(ge=0)]
CostBasis = Literal["modelled", "reported"]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    usd: NonNegative
    source: str


class Usage(BaseModel):
    """What one scored transaction consumes on the platform."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lambda_invocations: NonNegative = 5
    lambda_memory_gb: NonNegative = 0.5
    http_api_requests: NonNegative = 1
    dynamodb_writes: NonNegative = 2
    dynamodb_reads: NonNegative = 2
    bedrock_input_tokens: NonNegative = 0
    bedrock_output_tokens: NonNegative = 0


class AgentCallUsage(BaseModel):
    """Model tokens one agent call of a model-backed fraud agent consumes (a declared model)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    input_tokens: NonNegative = 0
    output_tokens: NonNegative = 0
    source: str = "not declared"


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    usd_per_day: NonNegative = 300


class PriceTable(BaseModel):
    """config/pricing.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    currency: str = "USD"
    as_of: str
    prices: dict[str, Price]
    usage: Usage = Field(default_factory=Usage)
    modelled_agent_call: AgentCallUsage = Field(default_factory=AgentCallUsage)
    budget: Budget = Field(default_factory=Budget)

    def price(self, name: str) -> float:
        price = self.prices.get(name)
        return price.usd if price else 0.0

    @property
    def source(self) -> str:
        return f"config/pricing.yaml (AWS list prices as of {self.as_of})"


def load_price_table(path: Path = PRICING_FILE) -> PriceTable:
    return PriceTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True, slots=True)
class ReportedTokens:
    """Model tokens the target reported in its answers (its `usage`), over `answers` answers."""

    answers: int
    input_tokens: int
    output_tokens: int
    modelled_answers: int = 0  # answers whose usage said it is modelled (usage.basis)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """What one transaction costs the platform, and whether the tokens were reported or modelled."""

    usd: float
    basis: CostBasis
    model: str


def estimate_cost(
    table: PriceTable, compute_ms: float, agent_calls: float,
    reported: ReportedTokens | None = None, declared_by_stand_in: bool = False,
) -> CostEstimate:
    """Infrastructure from the price table's usage, plus model tokens per transaction: those the
    target reported when it reports them, else the declared usage per agent call times the agent
    calls seen; plus any tokens declared per transaction. Reported tokens are still modelled
    when a stand-in declared them (the reference service calls no model)."""
    usage, call = table.usage, table.modelled_agent_call
    gb_seconds = usage.lambda_memory_gb * compute_ms / 1000.0
    if reported is not None and reported.answers > 0:
        per_answer_in = reported.input_tokens / reported.answers
        per_answer_out = reported.output_tokens / reported.answers
        modelled = declared_by_stand_in or reported.modelled_answers > 0
        basis: CostBasis = "modelled" if modelled else "reported"
        whose = "declared (modelled) in the target's answers" if modelled \
            else "reported in the target's answers"
        model = (f"{basis}: {per_answer_in:,.0f} input + {per_answer_out:,.0f} output model "
                 f"tokens per transaction, {whose}, plus infrastructure")
    else:
        per_answer_in = agent_calls * call.input_tokens
        per_answer_out = agent_calls * call.output_tokens
        basis = "modelled"
        model = (f"modelled: {agent_calls:.3g} agent calls per transaction x "
                 f"{call.input_tokens:,.0f} input + {call.output_tokens:,.0f} output tokens "
                 f"({call.source}), plus infrastructure")
    input_tokens = usage.bedrock_input_tokens + per_answer_in
    output_tokens = usage.bedrock_output_tokens + per_answer_out
    usd = (
        usage.lambda_invocations * table.price("lambda_request")
        + gb_seconds * table.price("lambda_gb_second")
        + usage.http_api_requests * table.price("http_api_request")
        + usage.dynamodb_writes * table.price("dynamodb_write_request")
        + usage.dynamodb_reads * table.price("dynamodb_read_request")
        + input_tokens * table.price("bedrock_input_token")
        + output_tokens * table.price("bedrock_output_token")
    )
    return CostEstimate(usd=usd, basis=basis, model=model)


def business_value(
    *,
    table: PriceTable,
    processed: int,
    fraud_detected: int,
    prevented_usd: float,
    missed_usd: float,
    false_positive_usd: float,
    compute_ms: float | None,
    agent_calls: float = 0.0,
    reported: ReportedTokens | None = None,
    declared_by_stand_in: bool = False,
    currency: str,
    usd_to_currency: float,
) -> dict[str, Any]:
    """The business section of the summary, in the reporting currency."""
    cost = estimate_cost(table, compute_ms or 0.0, agent_calls, reported, declared_by_stand_in)
    per_txn = cost.usd
    total_cost = per_txn * processed
    prevented = prevented_usd * usd_to_currency
    return {
        "fraud_detected": fraud_detected,
        "fraud_prevented_amount": round(prevented, 2),
        "fraud_missed_amount": round(missed_usd * usd_to_currency, 2),
        "false_positive_amount": round(false_positive_usd * usd_to_currency, 2),
        "currency": currency,
        "cost_per_transaction": per_txn * usd_to_currency,
        "total_cost": total_cost * usd_to_currency,
        "roi_pct": (prevented_usd - total_cost) / total_cost * 100 if total_cost > 0 else None,
        "compute_ms_per_transaction": compute_ms,
        "pricing_source": table.source,
        "cost_basis": cost.basis,
        "cost_model": cost.model,
    }
