"""The reference service's hot-path shortcuts give exactly what the plain computation gives."""

from __future__ import annotations

import random

from reference_service.config import DetectionRules, VelocityWindow
from reference_service.memory import Horizon, HorizonOf
from reference_service.orchestrator import MODELLED_USAGE, modelled_usage


def test_the_precomputed_horizon_is_the_same_float_for_any_rules_and_traffic() -> None:
    rng = random.Random(7)
    for _ in range(200):
        def window() -> VelocityWindow:
            return VelocityWindow(seconds=rng.uniform(1, 7200), traffic_share=rng.uniform(0, 0.2),
                                  min_ticks=rng.randint(1, 500), limit=rng.randint(2, 20))
        rules = DetectionRules(burst=window(), sustained=window(), card_testing=window())
        horizon_of = HorizonOf(rules)
        for cards in (0, 1, 7, 99, 1000, rng.randint(0, 10**7)):
            assert horizon_of(cards) == Horizon.of(rules, cards)


def test_the_usage_block_names_the_agents_called_with_their_modelled_tokens() -> None:
    block = modelled_usage(("transaction_analysis", "compliance"))
    assert block == {"basis": "modelled",
                     "transaction_analysis": dict(MODELLED_USAGE["transaction_analysis"]),
                     "compliance": dict(MODELLED_USAGE["compliance"])}
    assert modelled_usage(()) == {"basis": "modelled"}
