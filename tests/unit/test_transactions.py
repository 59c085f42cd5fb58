"""Unit tests for the transaction factory and the reference data it draws on."""

from __future__ import annotations

import calendar
import json
import random
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stresslab.generation import catalog
from stresslab.generation.catalog import (
    CITIES,
    CURRENCIES,
    FX_REFERENCE_DATE,
    MCC_BY_CODE,
    Continent,
    haversine_km,
    to_usd,
)
from stresslab.generation.transactions import (
    EDGE_CASES,
    EDGE_EPISODES,
    FRAUD_EPISODES,
    FRAUD_PATTERNS,
    PAYLOAD_SCHEMA,
    GeneratedTransaction,
    TransactionFactory,
    TransactionMix,
)
from stresslab.generation.transactions.model import NORMAL, Label
from stresslab.generation.transactions.world import ShardWorld

STREAM_SIZE = 20_000
MIX_TOLERANCE = 0.01
START = float(calendar.timegm((2026, 11, 27, 11, 10, 0)))

PAYLOAD_KEYS = set(
    "schema transaction_id timestamp amount amount_minor currency"
    " card account_id merchant channel device location".split()
)
CARD_KEYS = {"card_id", "bin", "last4", "masked_pan", "network", "country"}
MERCHANT_KEYS = {"merchant_id", "name", "mcc", "category", "country", "city"}
DEVICE_KEYS = {"device_id", "type", "ip"}
LOCATION_KEYS = {"city", "country", "lat", "lon"}
CHANNELS = {"card_present", "contactless", "ecommerce", "atm"}
DEVICE_TYPES = {"mobile", "desktop", "pos", "atm"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
MASKED_PAN = re.compile(r"^\d{4} \d\d\*\* \*{4} \d{4}$|^\d{4} \d\d\*{4} \*\d{4}$")


def generate(
    count: int,
    seed: int = 7,
    shard: int = 0,
    mix: TransactionMix | None = None,
    run_id: str = "run-a",
) -> list[GeneratedTransaction]:
    factory = TransactionFactory(run_id, seed, shard, mix)
    return [factory.next(START + i * 0.005) for i in range(count)]


@pytest.fixture(scope="module")
def stream() -> list[GeneratedTransaction]:
    return generate(STREAM_SIZE)


def assert_valid_payload(payload: dict[str, Any]) -> None:
    assert set(payload) == PAYLOAD_KEYS
    assert payload["schema"] == PAYLOAD_SCHEMA
    assert TIMESTAMP.match(payload["timestamp"])
    currency = CURRENCIES[payload["currency"]]
    scale = 10**currency.minor_units
    assert isinstance(payload["amount_minor"], int) and payload["amount_minor"] >= 1
    assert payload["amount_minor"] == round(payload["amount"] * scale)
    assert set(payload["card"]) == CARD_KEYS
    assert MASKED_PAN.match(payload["card"]["masked_pan"])
    assert set(payload["merchant"]) == MERCHANT_KEYS
    assert payload["merchant"]["mcc"] in MCC_BY_CODE
    assert payload["channel"] in CHANNELS
    device = payload["device"]
    assert device is None or (set(device) == DEVICE_KEYS and device["type"] in DEVICE_TYPES)
    location = payload["location"]
    assert set(location) == LOCATION_KEYS
    assert -90.0 <= location["lat"] <= 90.0 and -180.0 <= location["lon"] <= 180.0
    json.dumps(payload)


def shares(transactions: list[GeneratedTransaction]) -> dict[str, float]:
    counts = Counter(t.label.category for t in transactions)
    return {
        category: counts[category] / len(transactions) for category in ("legit", "fraud", "edge")
    }


def location_km(a: dict[str, Any], b: dict[str, Any]) -> float:
    return haversine_km(a["lat"], a["lon"], b["lat"], b["lon"])


# -- mix -------------------------------------------------------------------------------


def test_default_mix_is_realised_per_transaction(stream: list[GeneratedTransaction]) -> None:
    # Given 20k transactions from the default 80/15/5 mix
    # When we count labels per transaction (fraud episodes emit several each)
    realised = shares(stream)
    # Then each share is within tolerance of the mix
    assert realised["legit"] == pytest.approx(0.80, abs=MIX_TOLERANCE)
    assert realised["fraud"] == pytest.approx(0.15, abs=MIX_TOLERANCE)
    assert realised["edge"] == pytest.approx(0.05, abs=MIX_TOLERANCE)


@pytest.mark.parametrize(
    ("legit", "fraud", "edge"),
    [(0.5, 0.4, 0.1), (0.98, 0.01, 0.01), (0.0, 0.7, 0.3), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)],
)
def test_configured_mix_is_realised(legit: float, fraud: float, edge: float) -> None:
    mix = TransactionMix(legit=legit, fraud=fraud, edge=edge)
    realised = shares(generate(8_000, seed=11, mix=mix))
    assert realised == pytest.approx(
        {"legit": legit, "fraud": fraud, "edge": edge}, abs=MIX_TOLERANCE
    )


def test_default_mix_values() -> None:
    assert TransactionMix() == TransactionMix(legit=0.80, fraud=0.15, edge=0.05)


def test_mix_not_summing_to_one_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match=r"mix shares must sum to 1.*= 0\.9"):
        TransactionMix(legit=0.5, fraud=0.3, edge=0.1)


def test_mix_share_outside_unit_interval_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        TransactionMix(legit=1.1, fraud=-0.1, edge=0.0)
    fields = {error["loc"][0] for error in caught.value.errors()}
    assert fields == {"legit", "fraud"}


@pytest.mark.parametrize("bad", [{"bogus": 0.1}, {"fraud": float("nan")}, {"edge": "lots"}])
def test_mix_rejects_unknown_fields_and_non_numbers(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        TransactionMix(**{"legit": 0.8, "fraud": 0.15, "edge": 0.05, **bad})
    assert caught.value.errors()[0]["loc"] == (next(iter(bad)),)


def test_mix_tolerates_float_rounding_and_is_frozen() -> None:
    mix = TransactionMix(legit=0.7, fraud=0.2, edge=0.1)  # sums to 0.9999999999999999
    with pytest.raises(ValidationError):
        mix.fraud = 0.5  # type: ignore[misc]


# -- identity and determinism ------------------------------------------------------------


def test_same_seed_and_shard_reproduce_the_stream() -> None:
    first, second = generate(3_000, seed=5, shard=2), generate(3_000, seed=5, shard=2)
    assert [json.dumps(t.payload) for t in first] == [json.dumps(t.payload) for t in second]
    assert [(t.label, t.amount_usd) for t in first] == [(t.label, t.amount_usd) for t in second]


def test_another_seed_gives_another_stream() -> None:
    first, second = generate(200, seed=5), generate(200, seed=6)
    assert [t.payload["card"] for t in first] != [t.payload["card"] for t in second]


def test_ids_are_unique_across_shards_and_card_pools_do_not_overlap() -> None:
    # Given four shards of one run with the same seed
    shards = {shard: generate(2_000, seed=3, shard=shard) for shard in range(4)}
    # Then no transaction id repeats and each shard has its own cardholders
    ids = [t.transaction_id for batch in shards.values() for t in batch]
    assert len(ids) == len(set(ids))
    pools = [{t.payload["card"]["card_id"] for t in batch} for batch in shards.values()]
    accounts = [{t.payload["account_id"] for t in batch} for batch in shards.values()]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not pools[i] & pools[j]
            assert not accounts[i] & accounts[j]


def test_transaction_id_is_run_shard_seq_counting_from_zero() -> None:
    batch = generate(3, shard=9, run_id="r42")
    assert [t.transaction_id for t in batch] == ["r42/9/0", "r42/9/1", "r42/9/2"]
    assert all(t.payload["transaction_id"] == t.transaction_id for t in batch)


@pytest.mark.parametrize("run_id", ["", "a/b"])
def test_factory_rejects_run_ids_that_break_transaction_ids(run_id: str) -> None:
    with pytest.raises(ValueError, match="run_id"):
        TransactionFactory(run_id, seed=1, shard=0)


def test_factory_rejects_negative_shard() -> None:
    with pytest.raises(ValueError, match="shard"):
        TransactionFactory("run", seed=1, shard=-1)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0.123, "2026-11-27T11:10:00.123Z"),
        (1.9996, "2026-11-27T11:10:02.000Z"),
        (12 * 3600 + 49 * 60 + 59.999, "2026-11-27T23:59:59.999Z"),
        (12 * 3600 + 50 * 60, "2026-11-28T00:00:00.000Z"),
    ],
)
def test_timestamp_is_iso_utc_with_milliseconds(offset: float, expected: str) -> None:
    factory = TransactionFactory("run", seed=1, shard=0)
    factory.next(START)  # warm the per-second cache with another second
    assert factory.next(START + offset).payload["timestamp"] == expected


# -- money ----------------------------------------------------------------------------


def test_amounts_respect_each_currencys_minor_units(stream: list[GeneratedTransaction]) -> None:
    for transaction in stream:
        payload = transaction.payload
        currency = CURRENCIES[payload["currency"]]
        scale = 10**currency.minor_units
        assert payload["amount_minor"] == round(payload["amount"] * scale)
        assert round(payload["amount"], currency.minor_units) == payload["amount"]
        if currency.minor_units == 0:
            assert isinstance(payload["amount"], int)
        assert transaction.amount_usd == pytest.approx(
            to_usd(payload["amount"], payload["currency"]), rel=1e-6, abs=1e-4
        )


def test_stream_covers_zero_two_and_three_decimal_currencies(
    stream: list[GeneratedTransaction],
) -> None:
    exponents = {CURRENCIES[t.payload["currency"]].minor_units for t in stream}
    assert exponents == {0, 2, 3}


def test_edge_case_amounts(stream: list[GeneratedTransaction]) -> None:
    by_case = defaultdict(list)
    for transaction in stream:
        by_case[transaction.label.pattern].append(transaction)
    for t in by_case["zero_decimal_large"]:
        assert CURRENCIES[t.payload["currency"]].minor_units == 0
        assert t.amount_usd >= 1_000
    for t in by_case["three_decimal_currency"]:
        assert CURRENCIES[t.payload["currency"]].minor_units == 3
        assert t.payload["amount_minor"] % 10 != 0
    for t in by_case["minimum_amount"]:
        assert t.payload["amount_minor"] == 1
    for t in by_case["very_large_purchase"]:
        assert t.amount_usd >= 4_000
    for t in by_case["device_missing"]:
        assert t.payload["device"] is None
    for t in by_case["unicode_merchant_name"]:
        assert not t.payload["merchant"]["name"].isascii()


# -- labels and patterns --------------------------------------------------------------------


def test_payload_never_carries_ground_truth(stream: list[GeneratedTransaction]) -> None:
    giveaways = ("label", "is_fraud", "fraud", "legit", "edge", *FRAUD_PATTERNS, *EDGE_CASES)
    for transaction in stream[:5_000]:
        assert set(transaction.payload) == PAYLOAD_KEYS
        text = json.dumps(transaction.payload).lower()
        assert not [word for word in giveaways if word in text]


def test_labels_are_consistent(stream: list[GeneratedTransaction]) -> None:
    for transaction in stream:
        label = transaction.label
        if label.category == "legit":
            assert (label.pattern, label.is_fraud) == ("normal", False)
        elif label.category == "fraud":
            assert label.pattern in FRAUD_PATTERNS and label.is_fraud
        else:
            assert label.pattern in EDGE_CASES and not label.is_fraud


# -- episode registries --------------------------------------------------------------------


def test_each_registry_names_its_patterns_once_with_positive_weights() -> None:
    assert FRAUD_PATTERNS == tuple(FRAUD_EPISODES)
    assert EDGE_CASES == tuple(EDGE_EPISODES)
    assert not set(FRAUD_EPISODES) & set(EDGE_EPISODES)
    for weight, builder in [*FRAUD_EPISODES.values(), *EDGE_EPISODES.values()]:
        assert isinstance(weight, int) and weight > 0
        assert callable(builder)


@pytest.mark.parametrize(
    ("category", "pattern"),
    [("fraud", p) for p in FRAUD_EPISODES] + [("edge", e) for e in EDGE_EPISODES],
)
@pytest.mark.parametrize("legit_allowed", [True, False], ids=["with-legit", "no-legit"])
def test_each_builder_makes_an_episode_of_its_own_pattern(
    category: str, pattern: str, legit_allowed: bool
) -> None:
    # Given a shard's world and the registry's builder for one pattern
    registry = FRAUD_EPISODES if category == "fraud" else EDGE_EPISODES
    _, build = registry[pattern]
    label = Label("fraud" if category == "fraud" else "edge", pattern, category == "fraud")
    world = ShardWorld(random.Random(f"episodes/{pattern}"), 1, legit_allowed)
    world.now = START
    for _ in range(50):
        # When it builds an episode
        episode = build(world, label)
        # Then the first transaction goes now and the rest follow in order, all of the
        # pattern's label but for the cardholder's own payment at home (impossible travel,
        # only when the mix has legit traffic), all of one card
        offsets = [offset for offset, _ in episode]
        assert offsets[0] == 0 and offsets == sorted(offsets)
        labels = [draft.label for _, draft in episode]
        if pattern == "impossible_travel" and legit_allowed:
            assert labels[0] == NORMAL and labels[1:] == [label] * (len(labels) - 1)
        else:
            assert labels == [label] * len(labels)
        assert len({draft.account_id for _, draft in episode}) == 1


def test_mcc_constants_name_their_merchant_category() -> None:
    constants = {
        name: value
        for name, value in vars(catalog).items()
        if name.startswith("MCC_") and isinstance(value, str)
    }
    assert len(constants) == len(catalog.MERCHANT_CATEGORIES)
    for name, code in constants.items():
        assert name == f"MCC_{MCC_BY_CODE[code].category.upper()}"


def test_every_edge_case_appears(stream: list[GeneratedTransaction]) -> None:
    seen = {t.label.pattern for t in stream if t.label.category == "edge"}
    assert seen == set(EDGE_CASES)


def test_every_fraud_pattern_spans_several_transactions_of_one_card(
    stream: list[GeneratedTransaction],
) -> None:
    per_card: Counter[tuple[str, str]] = Counter(
        (t.label.pattern, t.payload["card"]["card_id"]) for t in stream if t.label.is_fraud
    )
    longest = {pattern: 0 for pattern in FRAUD_PATTERNS}
    for (pattern, _card), count in per_card.items():
        longest[pattern] = max(longest[pattern], count)
    assert all(count >= 2 for count in longest.values()), longest


def test_fraud_episodes_are_interleaved_but_close(stream: list[GeneratedTransaction]) -> None:
    # Given each fraud transaction and the previous one of the same episode (card, pattern)
    last_seen: dict[tuple[str, str], int] = {}
    gaps = []
    for position, transaction in enumerate(stream):
        if transaction.label.is_fraud:
            key = (transaction.label.pattern, transaction.payload["card"]["card_id"])
            if key in last_seen:
                gaps.append(position - last_seen[key])
            last_seen[key] = position
    gaps.sort()
    # Then episodes mix with other traffic yet stay within a few dozen transactions
    assert sum(gap > 1 for gap in gaps) > len(gaps) // 4
    assert gaps[int(len(gaps) * 0.95)] <= 30


def test_impossible_travel_jumps_more_than_1000_km(stream: list[GeneratedTransaction]) -> None:
    previous: dict[str, GeneratedTransaction] = {}
    jumps = []
    for transaction in stream:
        card_id = transaction.payload["card"]["card_id"]
        before = previous.get(card_id)
        if (
            transaction.label.pattern == "impossible_travel"
            and before is not None
            and before.label.pattern != "impossible_travel"
        ):
            jumps.append(location_km(before.payload["location"], transaction.payload["location"]))
        previous[card_id] = transaction
    assert len(jumps) >= 10
    assert min(jumps) > 1_000


def test_high_risk_merchant_fraud_uses_high_risk_mccs(stream: list[GeneratedTransaction]) -> None:
    mccs = {t.payload["merchant"]["mcc"] for t in stream if t.label.pattern == "high_risk_merchant"}
    assert mccs and all(MCC_BY_CODE[mcc].risk == "high" for mcc in mccs)


def test_card_testing_is_mostly_tiny_online_charges(stream: list[GeneratedTransaction]) -> None:
    tests = [t for t in stream if t.label.pattern == "card_testing"]
    tiny = [t for t in tests if t.amount_usd <= 2.5]
    assert len(tiny) > len(tests) / 2
    assert all(t.payload["channel"] == "ecommerce" for t in tests)


def test_legit_travel_is_abroad(stream: list[GeneratedTransaction]) -> None:
    travel = [t for t in stream if t.label.pattern == "legit_travel"]
    assert travel
    assert all(t.payload["card"]["country"] != t.payload["merchant"]["country"] for t in travel)


# -- card data ------------------------------------------------------------------------------


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def test_luhn_helper_recognises_a_test_pan() -> None:
    assert luhn_valid("4242424242424242")
    assert not luhn_valid("4242424242424241")


def test_no_full_card_number_is_ever_emitted(stream: list[GeneratedTransaction]) -> None:
    for transaction in stream:
        payload = transaction.payload
        card = payload["card"]
        assert re.fullmatch(r"\d{6}", card["bin"]) and re.fullmatch(r"\d{4}", card["last4"])
        assert card["masked_pan"].startswith(f"{card['bin'][:4]} {card['bin'][4:]}")
        assert card["masked_pan"].endswith(card["last4"])
        identifiers = json.dumps(
            [card, payload["account_id"], payload["device"], payload["merchant"]]
        )
        # any PAN would be a run of 12+ digits (spaces or dashes between groups included)
        runs = re.findall(r"\d(?:[ -]?\d){11,18}", identifiers)
        assert not [run for run in runs if luhn_valid(re.sub(r"\D", "", run))]
        assert not runs


# -- properties ----------------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**64),
    shard=st.integers(min_value=0, max_value=10_000),
    start=st.floats(min_value=0.0, max_value=4.1e9),
    step=st.floats(min_value=0.0, max_value=5.0),
)
def test_any_seed_and_shard_produce_valid_payloads(
    seed: int, shard: int, start: float, step: float
) -> None:
    factory = TransactionFactory("prop", seed, shard)
    for i in range(100):
        timestamp = start + i * step
        transaction = factory.next(timestamp)
        assert_valid_payload(transaction.payload)
        parsed = datetime.fromisoformat(transaction.payload["timestamp"])
        assert abs(parsed.timestamp() - timestamp) <= 0.0011
        assert transaction.transaction_id == f"prop/{shard}/{i}"


def test_default_stream_payloads_are_valid(stream: list[GeneratedTransaction]) -> None:
    for transaction in stream:
        assert_valid_payload(transaction.payload)


# -- reference data -----------------------------------------------------------------------


def test_cities_are_real_places_on_every_continent() -> None:
    assert len(CITIES) >= 40
    assert len({city.code for city in CITIES}) == len(CITIES)
    assert {city.continent for city in CITIES} == set(get_args(Continent))
    for city in CITIES:
        assert -90.0 <= city.lat <= 90.0 and -180.0 <= city.lon <= 180.0
        assert city.currency in CURRENCIES
        assert re.fullmatch(r"[A-Z]{2}", city.country)


ISO_4217_MINOR_UNITS = {
    **dict.fromkeys("USD EUR GBP CHF CAD AUD INR BRL MXN SGD HKD CNY ZAR AED SEK".split(), 2),
    **dict.fromkeys("JPY KRW CLP VND ISK".split(), 0),
    **dict.fromkeys("BHD KWD JOD OMR TND".split(), 3),
}


@pytest.mark.parametrize(("code", "minor_units"), ISO_4217_MINOR_UNITS.items())
def test_currencies_have_iso_4217_minor_units(code: str, minor_units: int) -> None:
    assert CURRENCIES[code].minor_units == minor_units


def test_fx_table_is_a_dated_reference() -> None:
    assert datetime.strptime(FX_REFERENCE_DATE, "%Y-%m-%d").replace(tzinfo=UTC)
    assert CURRENCIES["USD"].usd_per_unit == 1.0
    assert 100 < CURRENCIES["JPY"].units_per_usd < 200
    assert all(currency.usd_per_unit > 0 for currency in CURRENCIES.values())


def test_haversine_matches_known_distances() -> None:
    london, paris, new_york = (
        next(c for c in CITIES if c.code == code) for code in ("LON", "PAR", "NYC")
    )
    assert haversine_km(london.lat, london.lon, paris.lat, paris.lon) == pytest.approx(344, abs=5)
    assert haversine_km(london.lat, london.lon, new_york.lat, new_york.lon) == pytest.approx(
        5570, abs=30
    )
    assert haversine_km(1.0, 2.0, 1.0, 2.0) == 0.0
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(20015, abs=5)


def test_mcc_table_marks_the_usual_high_risk_codes() -> None:
    assert {"7995", "6051", "4829"} <= {
        mcc for mcc, kind in MCC_BY_CODE.items() if kind.risk == "high"
    }
    assert MCC_BY_CODE["5411"].median_usd == 40.0
    assert all(kind.median_usd > 0 and kind.sigma > 0 for kind in MCC_BY_CODE.values())
