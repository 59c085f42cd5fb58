"""The generated transaction and its ground-truth label."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

PAYLOAD_SCHEMA = "stresslab.transaction/v1"

Category = Literal["legit", "fraud", "edge"]
Channel = Literal["card_present", "contactless", "ecommerce", "atm"]


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one transaction; kept by the worker, never sent to the target."""

    category: Category
    pattern: str
    is_fraud: bool


NORMAL = Label("legit", "normal", False)


class GeneratedTransaction(NamedTuple):
    """The payload POSTed to the target, and what the worker keeps to score the decision.

    A NamedTuple for the same reason as Draft: one is made for every request. The payload's
    nested dicts (card, merchant, device, location) are shared with the shard's world:
    read them, never change them."""

    transaction_id: str
    payload: dict[str, Any]
    label: Label
    amount_usd: float
