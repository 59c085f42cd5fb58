"""Unit tests of the reference target's agents, orchestrator, faults, capacity and memory."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from reference_service.agents import (
    Verdict,
    amount_shape,
    analyse_transaction,
    haversine_km,
    score_pattern_velocity,
    screen_compliance,
)
from reference_service.capacity import AgentLane
from reference_service.config import (
    AgentConfig,
    DecisionPolicy,
    DegradationLevel,
    DetectionRules,
    MemoryLimits,
    TargetConfig,
)
from reference_service.faults import FaultSpec, FaultState
from reference_service.memory import CardMemory
from reference_service.orchestrator import (
    AgentFailed,
    Assessment,
    Orchestrator,
    Throttled,
    combine,
    explain,
)
from reference_service.payload import InvalidTransaction, parse_transaction, run_id_of
from reference_service.stats import ScoreCounters

START = datetime(2026, 11, 27, 11, 10, tzinfo=UTC)
BERLIN = {"city": "Berlin", "country": "DE", "lat": 52.52, "lon": 13.405}
POTSDAM = {"city": "Potsdam", "country": "DE", "lat": 52.39, "lon": 13.065}
NEW_YORK = {"city": "New York", "country": "US", "lat": 40.7128, "lon": -74.006}
LONDON = {"city": "London", "country": "GB", "lat": 51.5074, "lon": -0.1278}
TOKYO = {"city": "Tokyo", "country": "JP", "lat": 35.6762, "lon": 139.6503}
PHONE = {"device_id": "dev-phone", "type": "mobile", "ip": "192.0.2.10"}
TERMINAL = {"device_id": "pos-1", "type": "pos", "ip": "192.0.2.20"}
MINOR_UNITS = {"JPY": 0, "BHD": 3}


def payload(
    seq: int,
    *,
    after: timedelta = timedelta(0),
    amount: float = 42.5,
    currency: str = "EUR",
    card: str = "card-1",
    card_country: str = "DE",
    mcc: str = "5411",
    channel: str = "card_present",
    device: dict[str, Any] | None = None,
    location: dict[str, Any] | None = None,
    run: str = "run-a",
) -> dict[str, Any]:
    """A stresslab.transaction/v1 body; defaults describe a grocery purchase in Berlin."""
    place = location or BERLIN
    stamp = (START + after).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "schema": "stresslab.transaction/v1",
        "transaction_id": f"{run}/0/{seq}",
        "timestamp": stamp,
        "amount": amount,
        "amount_minor": round(amount * 10 ** MINOR_UNITS.get(currency, 2)),
        "currency": currency,
        "card": {
            "card_id": card,
            "bin": "424242",
            "last4": "4242",
            "masked_pan": "4242 42** **** 4242",
            "network": "visa",
            "country": card_country,
        },
        "account_id": f"acct-{card}",
        "merchant": {
            "merchant_id": f"m-{mcc}",
            "name": "Corner Grocer",
            "mcc": mcc,
            "category": "grocery",
            "country": place["country"],
            "city": place["city"],
        },
        "channel": channel,
        "device": device if device is not None else TERMINAL,
        "location": dict(place),
    }


def zero_latency_config(**overrides: Any) -> TargetConfig:
    return TargetConfig(agent_defaults=AgentConfig(service_time_ms=0), seed=7, **overrides)


def orchestrator(config: TargetConfig | None = None, clock: float = 0.0) -> Orchestrator:
    return Orchestrator(
        config or zero_latency_config(), FaultState(clock=lambda: clock), random.Random(1)
    )


async def assess_all(scorer: Orchestrator, bodies: list[dict[str, Any]]) -> list[Assessment]:
    return [await scorer.assess(parse_transaction(body)) for body in bodies]


def home_history(count: int = 6, **overrides: Any) -> list[dict[str, Any]]:
    """Everyday purchases at home, an hour apart, with the card's phone now and then."""
    return [
        payload(
            seq,
            after=timedelta(hours=seq - count),
            amount=30.0 + 5 * seq,
            device=PHONE if seq % 2 else TERMINAL,
            channel="ecommerce" if seq % 2 else "card_present",
            **overrides,
        )
        for seq in range(count)
    ]


# -- orchestrator decisions --------------------------------------------------------------


async def test_normal_grocery_purchase_is_approved() -> None:
    # Given a card with an everyday history at home
    scorer = orchestrator()
    await assess_all(scorer, home_history())

    # When it buys groceries at home again
    [result] = await assess_all(scorer, [payload(50, amount=47.3, location=POTSDAM)])

    # Then it is approved with all four agents consulted
    assert result.decision == "approve"
    assert result.risk_score < 0.2
    assert set(result.agents) == {
        "transaction_analysis",
        "pattern_velocity",
        "geographic_risk",
        "compliance",
    }


async def test_impossible_travel_pair_is_blocked_with_a_human_reason() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())

    berlin, new_york = await assess_all(
        scorer,
        [
            payload(50, after=timedelta(minutes=0)),
            payload(51, after=timedelta(minutes=6), location=NEW_YORK, amount=300.0),
        ],
    )

    assert berlin.decision == "approve"
    assert new_york.decision == "block"
    assert any("km away 6 minutes after previous use" in r for r in new_york.reasons)
    assert new_york.agents["geographic_risk"].verdict.score >= 0.85


async def test_legit_travel_hours_apart_is_approved() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())

    [london] = await assess_all(scorer, [payload(50, after=timedelta(hours=5), location=LONDON)])

    assert london.decision == "approve"


async def test_return_home_after_a_far_use_is_not_blocked() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    await assess_all(scorer, [payload(50, location=NEW_YORK, amount=300.0)])

    [home] = await assess_all(scorer, [payload(51, after=timedelta(minutes=3))])

    assert home.decision == "approve"
    assert any("back in a usual place" in r for r in home.reasons)


async def test_card_testing_burst_is_detected() -> None:
    # Given a card with history, then tiny online charges seconds apart from an unknown device
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    laptop = {"device_id": "dev-attacker", "type": "desktop", "ip": "203.0.113.9"}
    probes = [
        payload(
            60 + n,
            after=timedelta(seconds=5 * n),
            amount=0.5 + 0.3 * n,
            mcc="5818",
            channel="ecommerce",
            device=laptop,
        )
        for n in range(4)
    ]

    results = await assess_all(scorer, probes)

    # Then the burst is named and from the third probe on the card is blocked
    velocity = results[-1].agents["pattern_velocity"].verdict
    assert velocity.score >= 0.75
    assert any("card testing" in reason for reason in velocity.reasons)
    assert [r.decision for r in results[2:]] == ["block", "block"]


async def test_velocity_burst_of_card_present_purchases_is_flagged() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    spree = [
        payload(70 + n, after=timedelta(seconds=20 * n), amount=120.0, mcc="5651") for n in range(4)
    ]

    results = await assess_all(scorer, spree)

    assert results[0].decision == "approve"
    assert results[-1].decision in {"review", "block"}
    assert any("transactions on this card within" in r for r in results[-1].reasons)


async def test_account_takeover_new_device_new_place_high_amount_is_flagged() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    stranger = {"device_id": "dev-unknown", "type": "desktop", "ip": "198.51.100.4"}

    [takeover] = await assess_all(
        scorer,
        [
            payload(
                80,
                after=timedelta(hours=3),
                amount=2400.0,
                mcc="5732",
                channel="ecommerce",
                device=stranger,
                location=LONDON,
            )
        ],
    )

    assert takeover.decision in {"review", "block"}
    assert any("new device dev-unknown" in r for r in takeover.reasons)
    assert any("average" in r for r in takeover.reasons)


async def test_yen_amounts_are_priced_not_taken_at_face_value() -> None:
    # Given a Tokyo card buying groceries for a few thousand yen
    scorer = orchestrator()
    history = [
        payload(
            n,
            after=timedelta(hours=n - 10),
            amount=4_000 + 300 * n,
            currency="JPY",
            card="card-jp",
            card_country="JP",
            location=TOKYO,
        )
        for n in range(5)
    ]
    await assess_all(scorer, history)

    # When it pays 15,000 JPY (about $100) at a restaurant
    [dinner] = await assess_all(
        scorer,
        [
            payload(
                9,
                amount=15_000,
                currency="JPY",
                card="card-jp",
                card_country="JP",
                mcc="5812",
                location=TOKYO,
            )
        ],
    )

    # Then nothing about the amount looks large
    assert dinner.decision == "approve"
    assert dinner.agents["transaction_analysis"].verdict.score == 0.0


def test_first_yen_purchase_is_compared_in_usd() -> None:
    txn = parse_transaction(
        payload(1, amount=150_000, currency="JPY", mcc="5732", card_country="JP", location=TOKYO)
    )
    assert txn.usd_amount == pytest.approx(1_000, rel=0.01)

    verdict = analyse_transaction(
        txn, CardMemory(MemoryLimits(), DetectionRules()).observe(txn)[0], DetectionRules()
    )

    assert verdict.score == 0.0


async def test_high_risk_merchant_with_round_amount_and_unknown_device_is_flagged() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    stranger = {"device_id": "dev-casino", "type": "mobile", "ip": "198.51.100.8"}

    [bet] = await assess_all(
        scorer,
        [
            payload(
                90,
                after=timedelta(hours=2),
                amount=1_500.0,
                mcc="7995",
                channel="ecommerce",
                device=stranger,
            )
        ],
    )

    assert bet.decision in {"review", "block"}
    compliance = bet.agents["compliance"].verdict
    assert any("7995 (gambling)" in r for r in compliance.reasons)
    assert any("round amount" in r for r in compliance.reasons)


async def test_sanctioned_country_is_blocked_by_the_max_rule() -> None:
    scorer = orchestrator()
    tehran = {"city": "Tehran", "country": "IR", "lat": 35.69, "lon": 51.39}

    [result] = await assess_all(scorer, [payload(1, location=tehran, card_country="IR")])

    assert result.decision == "block"
    assert any("under sanctions" in r for r in result.reasons)


async def test_missing_device_is_accepted_and_not_a_new_device() -> None:
    scorer = orchestrator()
    await assess_all(scorer, home_history())
    body = payload(50)
    body["device"] = None

    [result] = await assess_all(scorer, [body])

    assert result.decision == "approve"
    assert result.agents["pattern_velocity"].verdict.score == 0.0


async def test_three_decimal_currency_is_parsed_and_approved() -> None:
    manama = {"city": "Manama", "country": "BH", "lat": 26.2285, "lon": 50.586}
    body = payload(1, amount=12.345, currency="BHD", card_country="BH", location=manama)

    [result] = await assess_all(orchestrator(), [body])

    assert body["amount_minor"] == 12_345
    assert result.decision == "approve"


# -- degradation levels --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "agents"),
    [
        (DegradationLevel.NONE, 4),
        (DegradationLevel.MODERATE, 3),
        (DegradationLevel.SEVERE, 2),
        (DegradationLevel.CRITICAL, 0),
    ],
)
async def test_degradation_level_sheds_agents(level: DegradationLevel, agents: int) -> None:
    scorer = orchestrator(zero_latency_config(degradation=level))

    [result] = await assess_all(scorer, [payload(1)])

    assert len(result.agents) == agents
    assert result.to_json()["degradation"] == level.value
    assert ("compliance" in result.agents) is (level is DegradationLevel.NONE)


async def test_critical_mode_still_blocks_sanctioned_countries_by_rule() -> None:
    scorer = orchestrator(zero_latency_config(degradation=DegradationLevel.CRITICAL))
    pyongyang = {"city": "Pyongyang", "country": "KP", "lat": 39.03, "lon": 125.75}

    [result] = await assess_all(scorer, [payload(1, location=pyongyang)])

    assert result.decision == "block"
    assert result.reasons == ["emergency rule: sanctioned country KP"]


# -- faults in the orchestrator -----------------------------------------------------------


async def test_agent_errors_fault_fails_the_request_with_500() -> None:
    faults = FaultState(clock=lambda: 0.0)
    scorer = Orchestrator(zero_latency_config(), faults, random.Random(1))
    faults.add(FaultSpec(type="agent_errors", agent="compliance", intensity=1.0, duration_s=60))

    with pytest.raises(AgentFailed) as failed:
        await scorer.assess(parse_transaction(payload(1)))

    assert failed.value.status == 500
    assert "compliance" in failed.value.error


async def test_unnamed_faults_reach_the_request_or_every_agent() -> None:
    faults = FaultState(clock=lambda: 0.0)
    scorer = Orchestrator(zero_latency_config(), faults, random.Random(1))
    latency = faults.add(FaultSpec(type="latency", intensity=20, duration_s=60))

    slowed = await scorer.assess(parse_transaction(payload(1)))
    faults.remove(latency.fault_id)
    faults.add(FaultSpec(type="agent_errors", intensity=1.0, duration_s=60))
    with pytest.raises(AgentFailed) as failed:
        await scorer.assess(parse_transaction(payload(2)))

    assert all(report.ms >= 20 for report in slowed.agents.values())
    assert failed.value.status == 500


async def test_agent_throttle_fault_refuses_with_429() -> None:
    faults = FaultState(clock=lambda: 0.0)
    scorer = Orchestrator(zero_latency_config(), faults, random.Random(1))
    faults.add(FaultSpec(type="throttle", agent="geographic_risk", intensity=1.0, duration_s=60))

    with pytest.raises(Throttled):
        await scorer.assess(parse_transaction(payload(1)))


async def test_shed_agent_faults_do_not_matter_in_severe_mode() -> None:
    faults = FaultState(clock=lambda: 0.0)
    config = zero_latency_config(degradation=DegradationLevel.SEVERE)
    scorer = Orchestrator(config, faults, random.Random(1))
    faults.add(FaultSpec(type="agent_down", agent="geographic_risk", duration_s=60))

    result = await scorer.assess(parse_transaction(payload(1)))

    assert result.decision == "approve"
    assert scorer.health()["geographic_risk"]["healthy"] is False


async def test_full_lane_throttles() -> None:
    config = TargetConfig(
        agent_defaults=AgentConfig(
            concurrency=1, max_queue=0, service_time_ms=60_000, service_time_sigma=0
        )
    )
    scorer = orchestrator(config)
    lane = scorer.lanes["compliance"]
    lane.schedule(now=0.0, service_s=1e9)  # an earlier call holds the only slot

    with pytest.raises(Throttled):
        await scorer.assess(parse_transaction(payload(1)))


# -- decision rules -----------------------------------------------------------------------


def test_combine_corroborates_and_applies_thresholds() -> None:
    policy = DecisionPolicy()
    weak = Verdict(0.4, ((0.4, "weak"),))

    risk_one, decision_one = combine({"pattern_velocity": weak}, policy)
    risk_two, decision_two = combine({"pattern_velocity": weak, "geographic_risk": weak}, policy)

    assert (risk_one, decision_one) == (0.4, "approve")
    assert risk_two == pytest.approx(0.64) and decision_two == "review"


def test_combine_max_rule_blocks_on_one_sure_agent_even_with_zero_weight() -> None:
    policy = DecisionPolicy(weights={"compliance": 0.0})

    risk, decision = combine({"compliance": Verdict(0.97, ((0.97, "sanctions"),))}, policy)

    assert risk == 0.0
    assert decision == "block"


def test_decision_policy_rejects_review_above_block() -> None:
    with pytest.raises(ValidationError, match="review_threshold"):
        DecisionPolicy(review_threshold=0.9, block_threshold=0.5)


def test_explain_ranks_reasons_and_sheds_detail() -> None:
    verdicts = [
        Verdict(0.3, ((0.3, "minor"), (0.05, "noise"))),
        Verdict(0.9, ((0.9, "major"),)),
    ]

    assert explain(verdicts, detail=True) == ["major", "minor"]
    assert explain(verdicts, detail=False) == ["major"]


def test_amount_shape_recognises_round_and_just_below_amounts() -> None:
    assert amount_shape(1_500) == "round"
    assert amount_shape(20_000) == "round"
    assert amount_shape(4_990) == "just_below"
    assert amount_shape(990) == "just_below"
    assert amount_shape(213.47) is None
    assert amount_shape(12) is None


def test_haversine_berlin_new_york() -> None:
    km = haversine_km(BERLIN["lat"], BERLIN["lon"], NEW_YORK["lat"], NEW_YORK["lon"])
    assert km == pytest.approx(6_385, rel=0.01)


def test_compliance_alone_does_not_flag_an_ordinary_gambling_purchase() -> None:
    txn = parse_transaction(payload(1, amount=213.47, currency="USD", mcc="7995"))
    memory = CardMemory(MemoryLimits(), DetectionRules())

    verdict = screen_compliance(txn, memory.observe(txn)[0], DetectionRules())

    assert 0 < verdict.score < 0.5


def test_pattern_velocity_counts_in_traffic_as_well_as_seconds() -> None:
    # Given a card used three times within a second, but with much other traffic between
    rules = DetectionRules()
    memory = CardMemory(MemoryLimits(), rules)
    for n in range(3):
        memory.observe(parse_transaction(payload(n, card="busy", after=timedelta(seconds=n / 10))))
        for other in range(200):
            memory.observe(parse_transaction(payload(1000 * n + other, card=f"other-{other}")))
    txn = parse_transaction(payload(9, card="busy", after=timedelta(seconds=0.3)))

    verdict = score_pattern_velocity(txn, memory.observe(txn)[0], rules)

    # Then it is not a burst: the card had no more than its share of the traffic
    assert verdict.score == 0.0


# -- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("card"), "card"),
        (lambda b: b.update(schema="other/v9"), "schema"),
        (lambda b: b.update(currency="euro"), "currency"),
        (lambda b: b.update(amount="12"), "amount"),
        (lambda b: b.update(amount=-1), "amount"),
        (lambda b: b.update(amount_minor=1), "amount_minor"),
        (lambda b: b.update(timestamp="yesterday"), "timestamp"),
        (lambda b: b["merchant"].pop("mcc"), "merchant.mcc"),
        (lambda b: b["location"].update(lat=123.0), "location.lat"),
        (lambda b: b.update(device="phone"), "device"),
    ],
)
def test_parse_transaction_names_the_bad_field(mutate: Any, field: str) -> None:
    body = payload(1)
    mutate(body)

    with pytest.raises(InvalidTransaction) as invalid:
        parse_transaction(body)

    assert invalid.value.field == field
    assert str(invalid.value).startswith(f"{field}: ")


def test_run_id_is_the_transaction_id_prefix_or_unknown() -> None:
    assert run_id_of({"transaction_id": "run-7/2/99"}) == "run-7"
    assert run_id_of({"transaction_id": "no-slash"}) == "no-slash"
    assert run_id_of({"transaction_id": "/0/1"}) == "unknown"
    assert run_id_of({"transaction_id": 5}) == "unknown"
    assert run_id_of([1, 2]) == "unknown"


# -- fault state with a fake clock --------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_fault_expires_after_its_duration_on_the_fake_clock() -> None:
    clock = FakeClock()
    state = FaultState(clock)
    fault = state.add(FaultSpec(type="throttle", intensity=0.5, duration_s=10))
    state.add(FaultSpec(type="latency", agent="compliance", intensity=40, duration_s=60))

    clock.now += 9.9
    assert state.fraction("throttle", None) == 0.5
    assert [f["remaining_s"] for f in state.describe()] == [pytest.approx(0.1),
                                                            pytest.approx(50.1)]

    clock.now += 0.2
    assert state.fraction("throttle", None) == 0.0
    assert [f.fault_id for f in state.active()] != [fault.fault_id]
    assert len(state.active()) == 1


def test_faults_combine_and_clear() -> None:
    state = FaultState(FakeClock())
    first = state.add(FaultSpec(type="agent_errors", agent="compliance", intensity=0.5,
                                duration_s=60))
    state.add(FaultSpec(type="agent_errors", agent="compliance", intensity=0.5, duration_s=60))
    state.add(FaultSpec(type="latency", agent="compliance", intensity=30, duration_s=60))
    state.add(FaultSpec(type="latency", agent="compliance", intensity=20, duration_s=60))

    assert state.fraction("agent_errors", "compliance") == 0.75
    assert state.fraction("agent_errors", "geographic_risk") == 0.0
    assert state.added_ms("latency", "compliance") == 50

    assert state.remove(first.fault_id) is True
    assert state.remove(first.fault_id) is False
    assert state.clear() == 3
    assert not state


def test_agent_down_without_agent_downs_every_agent() -> None:
    state = FaultState(FakeClock())
    state.add(FaultSpec(type="agent_down", duration_s=60))

    assert state.down_fraction("compliance") == 1.0
    assert state.down_fraction("pattern_velocity") == 1.0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "meteor", "intensity": 1}, "type"),
        ({"type": "throttle", "intensity": 1.5}, "intensity"),
        ({"type": "latency"}, "intensity"),
        ({"type": "slow_store", "agent": "compliance", "intensity": 5}, "agent"),
        ({"type": "agent_errors", "agent": "oracle", "intensity": 0.1}, "agent"),
        ({"type": "latency", "intensity": 5, "duration_s": 0}, "duration_s"),
        ({"type": "latency", "intensity": 5, "duration_s": 9, "colour": "red"}, "colour"),
    ],
)
def test_fault_spec_rejects_bad_input_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        FaultSpec.model_validate(body)

    assert invalid.value.errors()[0]["loc"] == (field,)


# -- capacity -----------------------------------------------------------------------------


def test_lane_serves_in_order_and_bounds_its_queue() -> None:
    lane = AgentLane(AgentConfig(concurrency=1, max_queue=1), random.Random(1))

    first_end = lane.schedule(now=0.0, service_s=1.0)
    second_end = lane.schedule(now=0.1, service_s=1.0)

    assert (first_end, second_end) == (1.0, 2.0)
    assert lane.load(now=0.5) == (1, 1)
    assert lane.has_room(now=0.5) is False
    assert lane.has_room(now=1.5) is True
    assert lane.load(now=2.5) == (0, 0)


def test_lane_runs_calls_in_parallel_up_to_its_concurrency() -> None:
    lane = AgentLane(AgentConfig(concurrency=2, max_queue=5), random.Random(1))

    ends = [lane.schedule(now=0.0, service_s=1.0) for _ in range(3)]

    assert ends == [1.0, 1.0, 2.0]
    assert lane.load(now=0.5) == (2, 1)


# -- memory and counters ------------------------------------------------------------------


def test_card_memory_is_bounded_and_forgets_the_least_recent_card() -> None:
    memory = CardMemory(MemoryLimits(max_cards=3, max_events_per_card=4), DetectionRules())
    for n in range(10):
        memory.observe(parse_transaction(payload(n, card=f"card-{n}")))
    memory.observe(parse_transaction(payload(20, card="card-7")))
    memory.observe(parse_transaction(payload(21, card="card-new")))

    assert len(memory) == 3
    context, _ = memory.observe(parse_transaction(payload(22, card="card-7")))
    assert context.prior_count == 2


def test_card_history_keeps_at_most_max_events() -> None:
    memory = CardMemory(MemoryLimits(max_events_per_card=4), DetectionRules())
    for n in range(50):
        context, _ = memory.observe(parse_transaction(payload(n, card="busy")))

    assert len(context.recent) == 4
    assert context.prior_count == 49


def test_card_memory_keeps_runs_apart() -> None:
    memory = CardMemory(MemoryLimits(), DetectionRules())
    memory.observe(parse_transaction(payload(1, run="run-a")))

    context, _ = memory.observe(parse_transaction(payload(1, run="run-b")))

    assert context.prior_count == 0


def test_score_counters_count_per_run_and_in_total() -> None:
    counters = ScoreCounters(max_runs=2)
    counters.arrived("a")
    counters.answered("a", "200", "approve")
    counters.arrived("b")
    counters.answered("b", "429")

    assert counters.describe("a") == {
        "run_id": "a",
        "received": 1,
        "responses": {"200": 1},
        "decisions": {"approve": 1, "review": 0, "block": 0},
        "forwarded": 0,
    }
    assert counters.describe()["received"] == 2
    assert counters.describe()["responses"] == {"200": 1, "429": 1}
    counters.arrived("c")
    assert counters.describe("a")["received"] == 0  # evicted, totals keep it
    assert counters.describe()["received"] == 3


def test_target_config_rejects_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="colour"):
        TargetConfig.model_validate({"colour": "red"})
    with pytest.raises(ValidationError):
        TargetConfig.model_validate({"agents": {"oracle": {}}})
