"""Cost per transaction: infrastructure plus agent calls x declared tokens per call x prices."""

from __future__ import annotations

import pytest

from stresslab.judgement.business import (
    PriceTable,
    ReportedTokens,
    business_value,
    estimate_cost,
    load_price_table,
)


def _table() -> PriceTable:
    # fake prices chosen so that every term is visible in the total
    return PriceTable.model_validate({
        "as_of": "test",
        "prices": {name: {"usd": usd, "source": "test"} for name, usd in {
            "lambda_request": 1.0, "lambda_gb_second": 10.0, "http_api_request": 100.0,
            "dynamodb_write_request": 1000.0, "dynamodb_read_request": 10000.0,
            "bedrock_input_token": 0.001, "bedrock_output_token": 0.01}.items()},
        "usage": {"lambda_invocations": 2, "lambda_memory_gb": 0.5, "http_api_requests": 1,
                  "dynamodb_writes": 0, "dynamodb_reads": 0,
                  "bedrock_input_tokens": 100, "bedrock_output_tokens": 10},
        "modelled_agent_call": {"input_tokens": 1000, "output_tokens": 50, "source": "fake"},
    })


def test_cost_is_infrastructure_plus_agent_calls_times_tokens_times_prices() -> None:
    # Given 3 agent calls per transaction and 200 ms of compute
    cost = estimate_cost(_table(), compute_ms=200.0, agent_calls=3)
    # Then: 2 requests x $1 + 0.5 GB x 0.2 s x $10 + 1 x $100
    #       + (100 + 3 x 1000) input x $0.001 + (10 + 3 x 50) output x $0.01
    assert cost.usd == pytest.approx(2.0 + 1.0 + 100.0 + 3.1 + 1.6, abs=1e-12)
    assert cost.basis == "modelled"
    assert "3 agent calls per transaction" in cost.model and "(fake)" in cost.model


def test_the_business_section_says_the_cost_is_modelled_and_how() -> None:
    section = business_value(
        table=_table(), processed=10, fraud_detected=1, prevented_usd=1000.0, missed_usd=0.0,
        false_positive_usd=0.0, compute_ms=0.0, agent_calls=0, currency="EUR",
        usd_to_currency=0.5)
    assert section["cost_per_transaction"] == pytest.approx((2 + 100 + 0.1 + 0.1) * 0.5)
    assert section["cost_basis"] == "modelled"
    assert section["cost_model"].startswith("modelled: 0 agent calls")


def test_the_shipped_prices_give_a_model_backed_cost_for_four_agents() -> None:
    # the reference service's four agents, priced as model-backed agents: cents, not millionths
    cost = estimate_cost(load_price_table(), compute_ms=40.0, agent_calls=4).usd
    assert 0.001 < cost < 0.05


def test_reported_tokens_replace_the_declared_model_and_are_priced_exactly() -> None:
    # Given answers that reported 3,000 input and 300 output tokens over 2 answers
    reported = ReportedTokens(answers=2, input_tokens=3000, output_tokens=300)
    cost = estimate_cost(_table(), compute_ms=0.0, agent_calls=3, reported=reported)
    # Then: infrastructure 2 + 100, plus (100 + 1500) x $0.001 + (10 + 150) x $0.01
    assert cost.usd == pytest.approx(102.0 + 1.6 + 1.6, abs=1e-12)
    assert cost.basis == "reported"
    assert cost.model.startswith("reported: 1,500 input + 150 output model tokens")


def test_tokens_a_stand_in_declared_are_still_modelled() -> None:
    reported = ReportedTokens(answers=1, input_tokens=10, output_tokens=1)
    cost = estimate_cost(_table(), 0.0, 0, reported, declared_by_stand_in=True)
    assert cost.basis == "modelled" and "declared (modelled) in the target's answers" in cost.model


def test_tokens_an_answer_says_are_modelled_are_priced_but_called_modelled() -> None:
    reported = ReportedTokens(answers=4, input_tokens=4000, output_tokens=400, modelled_answers=4)
    cost = estimate_cost(_table(), 0.0, 0, reported)
    assert cost.usd == pytest.approx(102.0 + 1.1 + 1.1, abs=1e-12)
    assert cost.basis == "modelled"


def test_no_answer_with_usage_falls_back_to_the_declared_model() -> None:
    empty = ReportedTokens(answers=0, input_tokens=0, output_tokens=0)
    assert estimate_cost(_table(), 0.0, 1, empty) == estimate_cost(_table(), 0.0, 1)
