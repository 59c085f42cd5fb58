"""TransactionMix: the shares of legit, fraud and edge-case transactions a scenario asks for."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TransactionMix(BaseModel):
    """Shares of legit, fraud and edge-case transactions in the generated stream."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    legit: float = Field(default=0.80, ge=0.0, le=1.0)
    fraud: float = Field(default=0.15, ge=0.0, le=1.0)
    edge: float = Field(default=0.05, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> TransactionMix:
        total = self.legit + self.fraud + self.edge
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                f"mix shares must sum to 1, got legit {self.legit} + fraud {self.fraud}"
                f" + edge {self.edge} = {total:.9g}"
            )
        return self
