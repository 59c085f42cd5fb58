"""Deterministic, realistic, labelled card transactions for one shard.

model: the transaction and its label; world: money, merchants, places and cardholders;
fraud and edge: the episode builders, each registry ``{pattern: (weight, builder)}``;
factory: the stream that interleaves them to follow the mix.
"""

from stresslab.generation.transactions.edge import EDGE_EPISODES
from stresslab.generation.transactions.factory import TransactionFactory
from stresslab.generation.transactions.fraud import FRAUD_EPISODES
from stresslab.generation.transactions.model import (
    PAYLOAD_SCHEMA,
    Category,
    Channel,
    GeneratedTransaction,
    Label,
)
from stresslab.generation.transactions.world import CARDHOLDERS_PER_SHARD
from stresslab.scenario.mix import TransactionMix  # a scenario setting; re-exported for old imports

FRAUD_PATTERNS: tuple[str, ...] = tuple(FRAUD_EPISODES)
EDGE_CASES: tuple[str, ...] = tuple(EDGE_EPISODES)

__all__ = [
    "CARDHOLDERS_PER_SHARD",
    "EDGE_CASES",
    "EDGE_EPISODES",
    "FRAUD_EPISODES",
    "FRAUD_PATTERNS",
    "PAYLOAD_SCHEMA",
    "Category",
    "Channel",
    "GeneratedTransaction",
    "Label",
    "TransactionFactory",
    "TransactionMix",
]
