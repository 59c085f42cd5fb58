"""The four scoring agents: pure functions of a transaction, its card's context and the rules."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, NamedTuple

from reference_service.config import AgentName, DetectionRules, VelocityWindow
from reference_service.fx import minor_unit_exponent
from reference_service.memory import PLACE_RADIUS_KM, CardContext, Sighting
from reference_service.payload import Transaction

EARTH_RADIUS_KM = 6371.0

# Typical ticket size in USD per MCC: the yardstick while a card has no history of its own.
MCC_TYPICAL_USD: Mapping[str, tuple[float, str]] = MappingProxyType(
    {
        "5411": (45.0, "grocery"),
        "5541": (50.0, "fuel"),
        "5812": (40.0, "restaurant"),
        "5814": (12.0, "fast-food"),
        "5311": (80.0, "department store"),
        "5651": (80.0, "clothing"),
        "5912": (25.0, "pharmacy"),
        "5200": (120.0, "home improvement"),
        "5942": (25.0, "book"),
        "4111": (4.0, "transit"),
        "4121": (20.0, "taxi"),
        "5818": (10.0, "digital goods"),
        "4899": (15.0, "streaming"),
        "8398": (25.0, "charity"),
        "7011": (250.0, "hotel"),
        "7512": (300.0, "car rental"),
        "4511": (600.0, "airline"),
        "5732": (400.0, "electronics"),
        "5944": (900.0, "jewellery"),
        "6011": (150.0, "cash withdrawal"),
        "5511": (15_000.0, "car dealer"),
        "7995": (200.0, "gambling"),
        "6051": (500.0, "crypto"),
        "4829": (300.0, "money transfer"),
    }
)
DEFAULT_TYPICAL_USD = (100.0, "merchant")


class Verdict(NamedTuple):
    """One agent's opinion: a 0..1 score and the signals behind it, strongest first."""

    score: float
    signals: tuple[tuple[float, str], ...] = ()

    @property
    def reasons(self) -> list[str]:
        return [reason for _, reason in self.signals]


@dataclass(slots=True)
class Evidence:
    """Independent risk signals, combined as a noisy-OR so corroboration raises the score."""

    signals: list[tuple[float, str]] = field(default_factory=list)

    def add(self, score: float, reason: str) -> None:
        self.signals.append((min(max(score, 0.0), 1.0), reason))

    def verdict(self) -> Verdict:
        if not self.signals:
            return CLEAR
        clear = 1.0
        for score, _ in self.signals:
            clear *= 1.0 - score
        ranked = sorted(self.signals, key=lambda signal: -signal[0])
        return Verdict(score=round(1.0 - clear, 4), signals=tuple(ranked))


CLEAR = Verdict(0.0)
Scorer = Callable[[Transaction, CardContext, DetectionRules], Verdict]


def analyse_transaction(txn: Transaction, ctx: CardContext, rules: DetectionRules) -> Verdict:
    """transaction_analysis: amount against the card's own history, else MCC norms; channel."""
    evidence = Evidence()
    usd = txn.usd_amount
    if usd is None:
        evidence.add(0.1, f"amount in {txn.currency} cannot be priced in USD")
        return evidence.verdict()
    spent = format_money(txn.amount, txn.currency, usd)
    if ctx.amount_count >= rules.min_history and ctx.amount_mean > 0:
        ratio = usd / ctx.amount_mean
        outlier = usd > ctx.amount_mean + 3 * ctx.amount_std
        if ratio >= rules.amount_anomaly_ratio and outlier and usd >= 100:
            evidence.add(
                0.25 + 0.05 * min(3.0, math.log2(ratio / rules.amount_anomaly_ratio)),
                f"{spent} is {ratio:,.0f}x this card's average of ${ctx.amount_mean:,.2f}",
            )
    else:
        typical, category = MCC_TYPICAL_USD.get(txn.mcc, DEFAULT_TYPICAL_USD)
        ratio = usd / typical
        if ratio >= 20 and usd >= 1_000:
            evidence.add(0.3, f"{spent} is {ratio:,.0f}x a typical {category} purchase")
    if usd >= rules.large_amount_usd:
        evidence.add(0.15, f"{spent} is above the large-amount limit")
    if usd >= 1_000 and txn.channel == "ecommerce":
        evidence.add(0.1, f"{spent} paid card-not-present")
    elif usd >= 1_000 and txn.channel == "atm":
        evidence.add(0.1, f"{spent} withdrawn in cash")
    return evidence.verdict()


class _Bounds:
    """A velocity window resolved for the current traffic."""

    __slots__ = ("seconds", "ticks")

    def __init__(self, window: VelocityWindow, active_cards: int) -> None:
        self.seconds = window.seconds
        self.ticks = window.ticks(active_cards)

    def holds(self, gap_s: float, gap_ticks: int) -> bool:
        return gap_s <= self.seconds and gap_ticks <= self.ticks


@dataclass(slots=True)
class _WindowCount:
    """Uses of a card inside one window, the current one included."""

    count: int = 1
    span_s: float = 0.0

    def add(self, gap_s: float) -> None:
        self.count += 1
        self.span_s = max(self.span_s, gap_s)


def score_pattern_velocity(txn: Transaction, ctx: CardContext, rules: DetectionRules) -> Verdict:
    """pattern_velocity: window counts, tiny-amount bursts, repeated high values, new devices."""
    evidence = Evidence()
    now = txn.timestamp
    usd = txn.usd_amount
    is_tiny = usd is not None and usd < rules.tiny_amount_usd
    is_high = usd is not None and usd >= rules.high_value_usd
    burst, sustained, tiny, high = _WindowCount(), _WindowCount(), _WindowCount(0), _WindowCount(0)
    burst_window = _Bounds(rules.burst, ctx.active_cards)
    sustained_window = _Bounds(rules.sustained, ctx.active_cards)
    testing_window = _Bounds(rules.card_testing, ctx.active_cards)
    for use in ctx.recent:
        gap_s = abs(now - use.timestamp)
        gap_ticks = ctx.tick - use.tick
        if burst_window.holds(gap_s, gap_ticks):
            burst.add(gap_s)
            if use.usd >= rules.high_value_usd:
                high.add(gap_s)
        if sustained_window.holds(gap_s, gap_ticks):
            sustained.add(gap_s)
        if use.usd < rules.tiny_amount_usd and testing_window.holds(gap_s, gap_ticks):
            tiny.add(gap_s)
    _card_testing(evidence, tiny, is_tiny, txn.channel == "ecommerce", rules)
    _velocity(evidence, burst, sustained, rules)
    if is_high and high.count >= 1:
        repeats = high.count + 1
        evidence.add(
            0.5 if repeats >= 3 else 0.25,
            f"{repeats} purchases over ${rules.high_value_usd:,.0f} within"
            f" {format_duration(high.span_s)}",
        )
    _device(evidence, txn, ctx)
    return evidence.verdict()


def _card_testing(
    evidence: Evidence, tiny: _WindowCount, is_tiny: bool, online: bool, rules: DetectionRules
) -> None:
    limit = rules.card_testing.limit
    within = format_duration(tiny.span_s)
    if is_tiny:
        count = tiny.count + 1
        if count >= limit:
            evidence.add(
                min(0.97, 0.75 + 0.05 * (count - limit) + 0.05 * online),
                f"{count} tiny amounts (under ${rules.tiny_amount_usd:g}) within {within}:"
                " card testing",
            )
        elif count > 1:
            evidence.add(0.3, f"{count} tiny amounts within {within}")
    elif tiny.count >= limit - 1:
        evidence.add(0.6, f"follows {tiny.count} tiny test amounts within {within}")


def _velocity(
    evidence: Evidence, burst: _WindowCount, sustained: _WindowCount, rules: DetectionRules
) -> None:
    burst_score = sustained_score = 0.0
    if burst.count >= rules.burst.limit:
        burst_score = min(0.9, 0.55 + 0.1 * (burst.count - rules.burst.limit))
    if sustained.count >= rules.sustained.limit:
        sustained_score = min(0.8, 0.5 + 0.05 * (sustained.count - rules.sustained.limit))
    if burst_score == sustained_score == 0:
        return
    stronger = burst if burst_score >= sustained_score else sustained
    evidence.add(
        max(burst_score, sustained_score),
        f"{stronger.count} transactions on this card within {format_duration(stronger.span_s)}",
    )


def _device(evidence: Evidence, txn: Transaction, ctx: CardContext) -> None:
    device = txn.device_id
    if device is None or not txn.personal_device or device in ctx.known_devices:
        return
    if ctx.known_devices:
        seen = len(ctx.known_devices)
        evidence.add(0.4, f"new device {device}; card known on {seen} other device{_s(seen)}")
    elif ctx.trusted_count >= 3:
        evidence.add(0.15, f"first personal device seen on this card: {device}")


def score_geographic_risk(txn: Transaction, ctx: CardContext, rules: DetectionRules) -> Verdict:
    """geographic_risk: travel speed from earlier uses, unfamiliar places, cross-border use."""
    evidence = Evidence()
    if txn.lat is not None and txn.lon is not None:
        travel = [
            _travel(txn, txn.lat, txn.lon, reference, described, ctx, rules)
            for reference, described in (
                (ctx.previous, "previous use"),
                (ctx.last_trusted, "last approved use"),
            )
            if reference is not None
        ]
        strongest = max((signal for signal in travel if signal), default=None)
        if strongest is not None:
            evidence.add(*strongest)
    country = txn.country
    if country is not None and ctx.known_countries and country not in ctx.known_countries:
        evidence.add(0.25, f"first use of this card in {country}")
    if country is not None and txn.card_country is not None and country != txn.card_country:
        evidence.add(0.15, f"card issued in {txn.card_country} used in {country}")
    return evidence.verdict()


def _travel(
    txn: Transaction,
    lat: float,
    lon: float,
    reference: Sighting,
    described: str,
    ctx: CardContext,
    rules: DetectionRules,
) -> tuple[float, str] | None:
    distance = haversine_km(reference.lat, reference.lon, lat, lon)
    if distance < rules.min_travel_km:
        return None
    gap_s = abs(txn.timestamp - reference.timestamp)
    speed = math.inf if gap_s == 0 else distance / (gap_s / 3600)
    route = f"({reference.city or 'unknown'} to {txn.city or 'unknown'})"
    after = f"{format_duration(gap_s)} after {described}"
    familiar = _familiar(txn, lat, lon, reference, ctx)
    if speed > rules.impossible_speed_kmh and familiar:
        # Back where the card belongs: the far-away use was the odd one out.
        return 0.3, f"back in a usual place {after} {distance:,.0f} km away {route}"
    if speed > rules.impossible_speed_kmh:
        excess = min(1.0, speed / (rules.impossible_speed_kmh * 10))
        return 0.85 + 0.1 * excess, f"card used {distance:,.0f} km away {after} {route}"
    if distance >= rules.far_travel_km and not familiar:
        return 0.15, f"card used {distance:,.0f} km from its {described} {route}"
    return None


def _familiar(
    txn: Transaction, lat: float, lon: float, reference: Sighting, ctx: CardContext
) -> bool:
    """Near a place of earlier approved use, or back in the issuing country from abroad."""
    home = txn.card_country
    if home is not None and txn.country == home and reference.country != home:
        return True
    return any(
        haversine_km(known_lat, known_lon, lat, lon) <= PLACE_RADIUS_KM
        for known_lat, known_lon in ctx.known_places
    )


def screen_compliance(txn: Transaction, ctx: CardContext, rules: DetectionRules) -> Verdict:
    """compliance: sanctioned and high-risk countries, high-risk merchant categories."""
    evidence = Evidence()
    places = (
        ("transaction", txn.country),
        ("merchant", txn.merchant_country),
        ("card issuer", txn.card_country),
    )
    flagged: set[str] = set()
    for role, country in places:
        if country is None or country in flagged:
            continue
        if country in rules.sanctioned_countries:
            flagged.add(country)
            evidence.add(0.97, f"{role} country {country} is under sanctions")
        elif country in rules.high_risk_countries:
            flagged.add(country)
            evidence.add(0.3, f"{role} country {country} is on the high-risk list")
    category = rules.high_risk_mccs.get(txn.mcc)
    if category is not None:
        evidence.add(0.3, f"high-risk merchant category {txn.mcc} ({category})")
        usd = txn.usd_amount
        spent = txn.amount if usd is None else usd
        if usd is not None and usd >= rules.high_risk_mcc_amount_usd:
            evidence.add(0.15, f"{format_money(txn.amount, txn.currency, spent)} at {category}")
        shape = amount_shape(txn.amount)
        if shape == "just_below":
            evidence.add(0.3, f"amount {txn.amount:,g} {txn.currency} sits just below a threshold")
        elif shape == "round":
            evidence.add(0.2, f"round amount {txn.amount:,g} {txn.currency} at {category}")
    return evidence.verdict()


AGENT_SCORERS: Mapping[AgentName, Scorer] = MappingProxyType(
    {
        "transaction_analysis": analyse_transaction,
        "pattern_velocity": score_pattern_velocity,
        "geographic_risk": score_geographic_risk,
        "compliance": screen_compliance,
    }
)


def amount_shape(amount: float) -> Literal["round", "just_below"] | None:
    """'round' for 1,500 or 20,000; 'just_below' for 4,990 or 990 (structuring); else None."""
    if amount < 100:
        return None
    if _is_round(amount):
        return "round"
    magnitude = 10 ** math.floor(math.log10(amount))
    for step in (magnitude / 100, magnitude / 10):
        if _is_round(amount + step) and math.isclose(
            step, 10 ** math.floor(math.log10(amount + step)) / 100
        ):
            return "just_below"
    return None


def _is_round(amount: float) -> bool:
    unit = 10 ** math.floor(math.log10(amount)) / 2
    remainder = amount % unit
    return min(remainder, unit - remainder) < 1e-6 * unit


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def format_money(amount: float, currency: str, usd: float) -> str:
    """'$12.50' for USD, else '150,000 JPY (~$1,000.00)'."""
    if currency == "USD":
        return f"${amount:,.2f}"
    digits = minor_unit_exponent(currency)
    return f"{amount:,.{digits}f} {currency} (~${usd:,.2f})"


def format_duration(seconds: float) -> str:
    """Human wording for a gap: '0.4 seconds', '45 seconds', '6 minutes', '2.5 hours'."""
    if seconds < 10:
        return f"{seconds:.1f} seconds"
    if seconds < 90:
        whole = round(seconds)
        return f"{whole} second{_s(whole)}"
    if seconds < 5_400:
        whole = round(seconds / 60)
        return f"{whole} minute{_s(whole)}"
    hours = seconds / 3600
    return f"{hours:.1f} hours" if hours < 48 else f"{hours / 24:.1f} days"


def _s(count: int) -> str:
    return "" if count == 1 else "s"
