"""Transaction factory: deterministic, realistic, labelled card transactions for one shard."""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stresslab.generation.catalog import (
    CITIES,
    CURRENCIES,
    MCC_BY_CODE,
    MERCHANT_CATEGORIES,
    City,
    Currency,
    MerchantCategory,
    city_distance_km,
)

PAYLOAD_SCHEMA = "stresslab.transaction/v1"
CARDHOLDERS_PER_SHARD = 3000

Category = Literal["legit", "fraud", "edge"]
Channel = Literal["card_present", "contactless", "ecommerce", "atm"]

FRAUD_PATTERNS: tuple[str, ...] = (
    "card_testing",
    "account_takeover",
    "velocity_burst",
    "impossible_travel",
    "high_risk_merchant",
    "bust_out",
    "cross_border_cnp",
    "atm_cashout",
)
EDGE_CASES: tuple[str, ...] = (
    "legit_travel",
    "zero_decimal_large",
    "three_decimal_currency",
    "minimum_amount",
    "very_large_purchase",
    "unicode_merchant_name",
    "device_missing",
    "local_midnight",
    "cross_border_ecommerce",
)


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


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one transaction; kept by the worker, never sent to the target."""

    category: Category
    pattern: str
    is_fraud: bool


@dataclass(frozen=True, slots=True)
class GeneratedTransaction:
    """The payload POSTed to the target, and what the worker keeps to score the decision."""

    transaction_id: str
    payload: dict[str, Any]
    label: Label
    amount_usd: float


_CATEGORIES: tuple[Category, ...] = ("legit", "fraud", "edge")
_CATEGORY_INDEX: dict[str, int] = {name: i for i, name in enumerate(_CATEGORIES)}
_NORMAL = Label("legit", "normal", False)
_FRAUD_LABELS = {p: Label("fraud", p, True) for p in FRAUD_PATTERNS}
_EDGE_LABELS = {e: Label("edge", e, False) for e in EDGE_CASES}

# Relative frequency of each fraud pattern / edge case among new episodes.
_FRAUD_WEIGHTS = (16, 14, 12, 12, 12, 10, 14, 10)
_EDGE_WEIGHTS = (20, 10, 10, 10, 10, 10, 10, 10, 10)

# Card data can never be a real card: no full PAN is generated at all (only BIN, last4 and
# a masked PAN leave the factory; identifiers hold no digit runs), and the BINs are prefixes
# of the public test card numbers in processors' documentation (e.g. Stripe's 4242 4242 ...).
_TEST_BINS: dict[str, tuple[str, ...]] = {
    "visa": ("424242", "400000", "400005"),
    "mastercard": ("555555", "222300", "520082", "510510"),
    "amex": ("378282", "371449"),
}
_NETWORKS = ("visa", "mastercard", "amex")
_NETWORK_CUM = list(accumulate((0.55, 0.35, 0.10)))

# RFC 5737 documentation networks: synthetic devices never point at a real host.
_IP_PREFIXES = ("192.0.2.", "198.51.100.", "203.0.113.")

_HEX_AS_LETTERS = str.maketrans("0123456789abcdef", "ghjkmnpqrstuvwxy")

_CONTACTLESS_SHARE = 0.6  # of in-person payments
_WALLET_SHARE = 0.4  # of contactless payments made with the cardholder's phone
_USUAL_MERCHANT_SHARE = 0.7
_TRAVELLER_SHARE = 0.04
_PULL_PENDING = 0.75  # chance a draw continues a pending episode instead of opening one


@dataclass(frozen=True, slots=True)
class _Money:
    """Per-currency arithmetic precomputed once: the hot path only multiplies."""

    currency: Currency
    scale: int
    minor_per_usd: float
    usd_per_minor: float
    note_step: int  # cash withdrawals come in multiples of this (in minor units)


def _money(currency: Currency) -> _Money:
    scale = 10**currency.minor_units
    note = 10 ** round(math.log10(20 * currency.units_per_usd))
    return _Money(
        currency,
        scale,
        currency.units_per_usd * scale,
        currency.usd_per_unit / scale,
        max(1, round(note * scale)),
    )


_MONEY: dict[str, _Money] = {code: _money(c) for code, c in CURRENCIES.items()}


@dataclass(frozen=True, slots=True)
class _Merchant:
    kind: MerchantCategory
    city: int
    money: _Money
    payload: dict[str, Any]
    terminal: dict[str, Any]
    location: dict[str, Any]


_BRANDS: dict[str, tuple[str, ...]] = {
    "grocery": ("FreshMart", "Green Basket", "Corner Grocer", "Daily Harvest"),
    "fuel": ("PetroLink", "Northstar Fuel", "QuickFill"),
    "restaurants": ("Olive & Thyme", "The Copper Pot", "Lantern House", "Bistro Nord"),
    "fast_food": ("Burger Yard", "Noodle Box", "Taco Rápido", "Bean There Coffee"),
    "department_stores": ("Grand Galleria", "Mercer & Lowe"),
    "clothing": ("Threadline", "Urban Loom", "Coastline Apparel"),
    "pharmacy": ("CarePlus Pharmacy", "Green Cross Chemist"),
    "home_improvement": ("BuildRight", "Hammer & Hinge"),
    "books": ("Paper Lantern Books", "Chapter One"),
    "transit": ("Metro Transit", "City Rail"),
    "taxi_rideshare": ("RideNow", "City Cabs", "Zoom Rides"),
    "digital_goods": ("AppVault", "PixelPlay Store", "CloudTunes"),
    "streaming": ("StreamBox", "Flicks+", "AudioWave"),
    "charities": ("Open Hands Foundation", "Clean Water Trust"),
    "hotels": ("Harbour View Hotel", "Grand Meridian", "Nomad Suites"),
    "car_rental": ("DriveAway Rentals", "Velocity Car Hire"),
    "airlines": ("SkyBridge Airways", "Aurora Air", "Meridian Airlines"),
    "electronics": ("Volt Electronics", "ByteStore", "Circuit City Plus"),
    "jewelry": ("Aurum Jewellers", "Lustre & Co"),
    "atm_cash": ("Metro Bank ATM", "Union Savings ATM", "Citywide ATM"),
    "car_dealers": ("Summit Motors", "Prestige Autohaus"),
    "gambling": ("Lucky Star Casino", "BetPoint Online", "Royal Spin"),
    "quasi_cash_crypto": ("CoinHarbor Exchange", "BitBridge", "CryptoMint"),
    "money_transfer": ("SwiftSend Remit", "GlobalPay Transfer", "Courier Cash"),
}

_UNICODE_NAMES: tuple[str, ...] = (
    "Café Müller & Söhne",
    "東京ラーメン 一蘭",
    "Ресторан «Пушкинъ»",
    "مطعم الشرق",
    "קפה הלל",
    "서울 김밥천국",
    "ตลาดสด สามย่าน",
    "Łódź Kebab Żółw",
    "Ñandú Parrilla",
    "🍣 Sushi Zanmai",
    "👩\u200d🍳 Chef's Table",
    "Cafe\u0301 Noe\u0308l",
    "Ελληνική Ταβέρνα",
    "Boulangerie “L’Épi d’Or”",
)


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    return f"{rng.choice(_IP_PREFIXES)}{rng.randrange(1, 255)}"


def _token(rng: random.Random, length: int) -> str:
    """Letters only, so that no identifier can hold a run of digits that looks like a PAN."""
    return f"{rng.getrandbits(4 * length):0{length}x}".translate(_HEX_AS_LETTERS)


def _device(rng: random.Random, shard: int, kind: str) -> dict[str, Any]:
    return {"device_id": f"dev-{shard}-{_token(rng, 10)}", "type": kind, "ip": _ip(rng)}


def _place(city: City, rng: random.Random, spread: float) -> dict[str, Any]:
    return {
        "city": city.name,
        "country": city.country,
        "lat": round(city.lat + rng.uniform(-spread, spread), 4),
        "lon": round(city.lon + rng.uniform(-spread, spread), 4),
    }


def _make_merchant(
    kind: MerchantCategory, city_index: int, name: str, merchant_id: str, rng: random.Random
) -> _Merchant:
    city = CITIES[city_index]
    payload = {
        "merchant_id": merchant_id,
        "name": name,
        "mcc": kind.mcc,
        "category": kind.category,
        "country": city.country,
        "city": city.name,
    }
    terminal_type = "atm" if kind.category == "atm_cash" else "pos"
    terminal_id = f"{terminal_type}-{merchant_id}"
    terminal = {"device_id": terminal_id, "type": terminal_type, "ip": _ip(rng)}
    return _Merchant(
        kind, city_index, _MONEY[city.currency], payload, terminal, _place(city, rng, 0.04)
    )


@cache
def _merchant_directory() -> dict[tuple[int, str], tuple[_Merchant, ...]]:
    """Every (city, MCC) has a few merchants; identical in every shard and run."""
    rng = random.Random("stresslab/merchants/v1")
    directory: dict[tuple[int, str], tuple[_Merchant, ...]] = {}
    for city_index, city in enumerate(CITIES):
        for kind in MERCHANT_CATEGORIES:
            directory[city_index, kind.mcc] = tuple(
                _make_merchant(
                    kind, city_index, f"{brand} {city.name}", f"mch-{city.code}-{kind.mcc}-{n}", rng
                )
                for n, brand in enumerate(_BRANDS[kind.category])
            )
    return directory


@cache
def _unicode_merchants() -> tuple[tuple[_Merchant, ...], ...]:
    rng = random.Random("stresslab/unicode-merchants/v1")
    kinds = (MCC_BY_CODE["5812"], MCC_BY_CODE["5411"], MCC_BY_CODE["5814"])
    return tuple(
        tuple(
            _make_merchant(kinds[n % len(kinds)], city_index, name, f"mch-{city.code}-u{n}", rng)
            for n, name in enumerate(_UNICODE_NAMES)
        )
        for city_index, city in enumerate(CITIES)
    )


@cache
def _everyday_merchants() -> tuple[tuple[tuple[_Merchant, ...], list[float]], ...]:
    """Per city: the merchants of routine spend and their cumulative weights."""
    directory = _merchant_directory()
    per_city = []
    for city_index in range(len(CITIES)):
        merchants = [
            merchant
            for kind in MERCHANT_CATEGORIES
            if kind.everyday_weight > 0
            for merchant in directory[city_index, kind.mcc]
        ]
        weights = [m.kind.everyday_weight / len(_BRANDS[m.kind.category]) for m in merchants]
        per_city.append((tuple(merchants), list(accumulate(weights))))
    return tuple(per_city)


_FAR_KM = 5000.0


def _far_cities(city_index: int) -> tuple[int, ...]:
    home = CITIES[city_index]
    far = tuple(i for i, c in enumerate(CITIES) if city_distance_km(home, c) > _FAR_KM)
    return far or (max(range(len(CITIES)), key=lambda i: city_distance_km(home, CITIES[i])),)


_FAR_FROM: tuple[tuple[int, ...], ...] = tuple(_far_cities(i) for i in range(len(CITIES)))
_FOREIGN_FROM: tuple[tuple[int, ...], ...] = tuple(
    tuple(j for j, other in enumerate(CITIES) if other.country != city.country) for city in CITIES
)


@dataclass(frozen=True, slots=True)
class _Cardholder:
    card: dict[str, Any]
    account_id: str
    city: int
    devices: tuple[dict[str, Any], ...]
    home: dict[str, Any]
    usual: tuple[_Merchant, ...]
    usual_cum: list[float]
    destination: int | None


@dataclass(frozen=True, slots=True)
class _Draft:
    """A transaction minus its position in the stream (id and timestamp)."""

    label: Label
    card: dict[str, Any]
    account_id: str
    merchant: _Merchant
    channel: Channel
    device: dict[str, Any] | None
    location: dict[str, Any]
    amount_minor: int


_Episode = list[tuple[int, _Draft]]  # (slots after the first transaction, draft)


def _gaps(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    """Offsets of ``count`` transactions, the first at 0, then ``low..high`` slots apart."""
    offsets = [0]
    for _ in range(count - 1):
        offsets.append(offsets[-1] + rng.randint(low, high))
    return offsets


def _masked_pan(network: str, bin_: str, last4: str) -> str:
    if network == "amex":
        return f"{bin_[:4]} {bin_[4:]}**** *{last4}"
    return f"{bin_[:4]} {bin_[4:]}** **** {last4}"


class TransactionFactory:
    """Generates one shard's labelled transaction stream, deterministic per (seed, shard).

    Fraud and multi-transaction edge cases are episodes: their transactions go into a
    queue with a latest slot each and are interleaved with other traffic. Each slot
    draws a category from the mix; when a queued transaction has to go out anyway, the
    category it displaced is repaid on a later slot, so the realised transaction shares
    follow the mix rather than the episode counts.
    """

    def __init__(
        self, run_id: str, seed: int, shard: int, mix: TransactionMix | None = None
    ) -> None:
        if not run_id or "/" in run_id:
            raise ValueError(f"run_id must be non-empty and contain no '/', got {run_id!r}")
        if shard < 0:
            raise ValueError(f"shard must be >= 0, got {shard}")
        self._run_id = run_id
        self._shard = shard
        self._mix = mix or TransactionMix()
        self._mix_cum = [self._mix.legit, self._mix.legit + self._mix.fraud]
        self._rng = random.Random(f"stresslab/transactions/v1/{seed}/{shard}")
        self._tag = f"{shard}-{_token(self._rng, 6)}"
        self._directory = _merchant_directory()
        self._everyday = _everyday_merchants()
        self._seq = 0
        self._surplus = [0, 0, 0]
        self._pending: tuple[list[tuple[int, int, _Draft]], ...] = ([], [], [])
        self._pushed = 0
        self._second = -1
        self._prefix = ""
        self._plan_cardholders()
        self._fraud_builders: tuple[Callable[[Label], _Episode], ...] = (
            self._card_testing,
            self._account_takeover,
            self._velocity_burst,
            self._impossible_travel,
            self._high_risk_merchant,
            self._bust_out,
            self._cross_border_cnp,
            self._atm_cashout,
        )
        self._edge_builders: tuple[Callable[[Label], _Episode], ...] = (
            self._legit_travel,
            self._zero_decimal_large,
            self._three_decimal_currency,
            self._minimum_amount,
            self._very_large_purchase,
            self._unicode_merchant_name,
            self._device_missing,
            self._local_midnight,
            self._cross_border_ecommerce,
        )
        self._fraud_cum = list(accumulate(_FRAUD_WEIGHTS))
        self._edge_cum = list(accumulate(_EDGE_WEIGHTS))
        self._timestamp = 0.0

    # -- the stream -------------------------------------------------------------------

    def next(self, timestamp: float) -> GeneratedTransaction:
        """The next transaction, stamped with ``timestamp`` (epoch seconds, intended send time)."""
        seq = self._seq
        self._seq = seq + 1
        self._timestamp = timestamp
        drawn = bisect(self._mix_cum, self._rng.random())
        draft = self._pop_overdue(seq)
        if draft is None:
            surplus = self._surplus
            wanted = drawn if surplus[drawn] <= 0 else min(range(3), key=surplus.__getitem__)
            draft = self._fresh(wanted, seq)
        self._surplus[drawn] -= 1
        self._surplus[_CATEGORY_INDEX[draft.label.category]] += 1
        return self._render(draft, seq, timestamp)

    def _pop_overdue(self, seq: int) -> _Draft | None:
        due: list[tuple[int, int, _Draft]] | None = None
        for queue in self._pending:
            if queue and queue[0][0] <= seq and (due is None or queue[0] < due[0]):
                due = queue
        return heapq.heappop(due)[2] if due is not None else None

    def _fresh(self, category: int, seq: int) -> _Draft:
        if category == 0:
            return self._legit_draft()
        queue = self._pending[category]
        if queue and self._rng.random() < _PULL_PENDING:
            return heapq.heappop(queue)[2]
        if category == 1:
            pick = bisect(self._fraud_cum, self._rng.random() * self._fraud_cum[-1])
            episode = self._fraud_builders[pick](_FRAUD_LABELS[FRAUD_PATTERNS[pick]])
        else:
            pick = bisect(self._edge_cum, self._rng.random() * self._edge_cum[-1])
            episode = self._edge_builders[pick](_EDGE_LABELS[EDGE_CASES[pick]])
        for offset, draft in episode[1:]:
            self._pushed += 1
            heapq.heappush(
                self._pending[_CATEGORY_INDEX[draft.label.category]],
                (seq + offset, self._pushed, draft),
            )
        return episode[0][1]

    def _render(self, draft: _Draft, seq: int, timestamp: float) -> GeneratedTransaction:
        transaction_id = f"{self._run_id}/{self._shard}/{seq}"
        money = draft.merchant.money
        minor = draft.amount_minor
        device = draft.device
        payload: dict[str, Any] = {
            "schema": PAYLOAD_SCHEMA,
            "transaction_id": transaction_id,
            "timestamp": self._iso(timestamp),
            "amount": minor if money.scale == 1 else minor / money.scale,
            "amount_minor": minor,
            "currency": money.currency.code,
            "card": draft.card.copy(),
            "account_id": draft.account_id,
            "merchant": draft.merchant.payload.copy(),
            "channel": draft.channel,
            "device": None if device is None else device.copy(),
            "location": draft.location.copy(),
        }
        return GeneratedTransaction(
            transaction_id, payload, draft.label, round(minor * money.usd_per_minor, 4)
        )

    def _iso(self, timestamp: float) -> str:
        second, millis = divmod(round(timestamp * 1000), 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{millis:03d}Z"

    # -- cardholders, merchants, amounts ----------------------------------------------

    def _plan_cardholders(self) -> None:
        """Decide where each cardholder lives now; build the cardholder when first used."""
        rng = self._rng
        # the first cardholders cover every city, so every edge case finds a home for itself
        self._homes = [
            i if i < len(CITIES) else rng.randrange(len(CITIES))
            for i in range(CARDHOLDERS_PER_SHARD)
        ]
        self._destinations: list[int | None] = [
            rng.choice(_FOREIGN_FROM[city])
            if i >= len(CITIES) and rng.random() < _TRAVELLER_SHARE
            else None
            for i, city in enumerate(self._homes)
        ]
        self._residents = [i for i, d in enumerate(self._destinations) if d is None]
        self._travellers = [i for i, d in enumerate(self._destinations) if d is not None]
        activity = [rng.lognormvariate(0.0, 0.75) for _ in self._residents]
        self._activity_cum = list(accumulate(activity))
        self._by_city: dict[int, list[int]] = {}
        self._by_minor_units: dict[int, list[int]] = {}
        for i in self._residents:
            city = self._homes[i]
            self._by_city.setdefault(city, []).append(i)
            units = CURRENCIES[CITIES[city].currency].minor_units
            self._by_minor_units.setdefault(units, []).append(i)
        # each cardholder has its own random stream, so building order cannot change them
        self._cardholder_seed = rng.getrandbits(64) << 16
        self._cardholder_rng = random.Random()
        self._holders: list[_Cardholder | None] = [None] * CARDHOLDERS_PER_SHARD

    def _holder(self, index: int) -> _Cardholder:
        holder = self._holders[index]
        if holder is None:
            holder = self._holders[index] = self._new_cardholder(index)
        return holder

    def _new_cardholder(self, index: int) -> _Cardholder:
        rng = self._cardholder_rng
        rng.seed(self._cardholder_seed + index)
        city = self._homes[index]
        network = _NETWORKS[bisect(_NETWORK_CUM, rng.random() * _NETWORK_CUM[-1])]
        bin_ = rng.choice(_TEST_BINS[network])
        last4 = f"{rng.randrange(10_000):04d}"
        card = {
            "card_id": f"card-{self._tag}-{index:05d}",
            "bin": bin_,
            "last4": last4,
            "masked_pan": _masked_pan(network, bin_, last4),
            "network": network,
            "country": CITIES[city].country,
        }
        kinds: tuple[str, ...] = (
            ("mobile", "desktop") if rng.random() < 0.8 else ("desktop", "mobile")
        )
        if rng.random() < 0.5:
            kinds = kinds[:1]
        devices = tuple(_device(rng, self._shard, kind) for kind in kinds)
        merchants, cum = self._everyday[city]
        usual = tuple(rng.choices(merchants, cum_weights=cum, k=rng.randint(6, 10)))
        usual_cum = list(accumulate(rng.random() + 0.2 for _ in usual))
        return _Cardholder(
            card=card,
            account_id=f"acct-{self._tag}-{index:05d}",
            city=city,
            devices=devices,
            home=_place(CITIES[city], rng, 0.06),
            usual=usual,
            usual_cum=usual_cum,
            destination=self._destinations[index],
        )

    def _local_merchant(self, city: int) -> _Merchant:
        merchants, cum = self._everyday[city]
        return merchants[bisect(cum, self._rng.random() * cum[-1])]

    def _merchant(self, city: int, mcc: str) -> _Merchant:
        return self._rng.choice(self._directory[city, mcc])

    def _resident(self) -> _Cardholder:
        """A cardholder at home, busier cardholders more often."""
        cum = self._activity_cum
        return self._holder(self._residents[bisect(cum, self._rng.random() * cum[-1])])

    def _victim(self) -> _Cardholder:
        return self._holder(self._rng.choice(self._residents))

    def _channel(self, kind: MerchantCategory) -> Channel:
        if kind.category == "atm_cash":
            return "atm"
        r = self._rng.random()
        if r < kind.online_share:
            return "ecommerce"
        if r < kind.online_share + (1.0 - kind.online_share) * _CONTACTLESS_SHARE:
            return "contactless"
        return "card_present"

    def _typical_minor(self, merchant: _Merchant) -> int:
        kind = merchant.kind
        usd = kind.median_usd * math.exp(kind.sigma * self._rng.gauss(0.0, 1.0))
        return self._minor(merchant, usd)

    @staticmethod
    def _minor(merchant: _Merchant, usd: float) -> int:
        money = merchant.money
        if merchant.kind.category == "atm_cash":
            step = money.note_step
            return max(1, round(usd * money.minor_per_usd / step)) * step
        return max(1, round(usd * money.minor_per_usd))

    def _uniform_minor(self, merchant: _Merchant, low_usd: float, high_usd: float) -> int:
        return self._minor(merchant, self._rng.uniform(low_usd, high_usd))

    def _draft(
        self,
        label: Label,
        holder: _Cardholder,
        merchant: _Merchant,
        channel: Channel,
        amount_minor: int,
        device: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
    ) -> _Draft:
        """A transaction; device and location default to what the cardholder would use."""
        if device is None or location is None:
            usual_device, usual_location = self._usual_context(holder, merchant, channel)
            device = device or usual_device
            location = location or usual_location
        return _Draft(
            label, holder.card, holder.account_id, merchant, channel, device, location, amount_minor
        )

    def _usual_context(
        self, holder: _Cardholder, merchant: _Merchant, channel: Channel
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if channel == "ecommerce":
            return self._rng.choice(holder.devices), holder.home
        if channel == "contactless" and self._rng.random() < _WALLET_SHARE:
            phone = holder.devices[0]
            if phone["type"] == "mobile":
                return phone, merchant.location
        return merchant.terminal, merchant.location

    def _legit_draft(self) -> _Draft:
        rng = self._rng
        holder = self._resident()
        if rng.random() < _USUAL_MERCHANT_SHARE:
            usual_cum = holder.usual_cum
            merchant = holder.usual[bisect(usual_cum, rng.random() * usual_cum[-1])]
        else:
            merchant = self._local_merchant(holder.city)
        channel = self._channel(merchant.kind)
        return self._draft(_NORMAL, holder, merchant, channel, self._typical_minor(merchant))

    def _fraudster(self, city: int, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A device the cardholder never used, somewhere in ``city``."""
        return _device(self._rng, self._shard, kind), _place(CITIES[city], self._rng, 0.06)

    # -- fraud patterns -------------------------------------------------------------------

    def _card_testing(self, label: Label) -> _Episode:
        """A burst of tiny online charges to see if the card works, then maybe a real one."""
        rng = self._rng
        holder = self._victim()
        city = rng.randrange(len(CITIES))
        device, location = self._fraudster(city, "desktop")
        testing_ground = self._merchant(city, rng.choice(("5818", "8398")))
        offsets = _gaps(rng, rng.randint(4, 9), 1, 2)
        drafts = [
            self._draft(
                label,
                holder,
                testing_ground,
                "ecommerce",
                self._uniform_minor(testing_ground, 0.3, 2.0),
                device,
                location,
            )
            for _ in offsets
        ]
        if rng.random() < 0.6:
            offsets.append(offsets[-1] + rng.randint(1, 4))
            cash_in = self._merchant(city, rng.choice(("5732", "5944")))
            drafts.append(
                self._draft(
                    label,
                    holder,
                    cash_in,
                    "ecommerce",
                    self._uniform_minor(cash_in, 300.0, 1500.0),
                    device,
                    location,
                )
            )
        return list(zip(offsets, drafts, strict=True))

    def _account_takeover(self, label: Label) -> _Episode:
        """New device, new place, then high-value online spend on the victim's account."""
        rng = self._rng
        holder = self._victim()
        device, location = self._fraudster(
            rng.choice(_FOREIGN_FROM[holder.city]), rng.choice(("mobile", "desktop"))
        )
        drafts = []
        if rng.random() < 0.5:
            probe = self._merchant(holder.city, "5818")
            drafts.append(
                self._draft(
                    label,
                    holder,
                    probe,
                    "ecommerce",
                    self._uniform_minor(probe, 5.0, 30.0),
                    device,
                    location,
                )
            )
        for _ in range(rng.randint(2 - len(drafts), 3)):
            mcc, low, high = rng.choice(
                (("5732", 800.0, 3000.0), ("5944", 1000.0, 5000.0), ("4829", 500.0, 2500.0))
            )
            target = self._merchant(holder.city, mcc)
            drafts.append(
                self._draft(
                    label,
                    holder,
                    target,
                    "ecommerce",
                    self._uniform_minor(target, low, high),
                    device,
                    location,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 4), drafts, strict=True))

    def _velocity_burst(self, label: Label) -> _Episode:
        """A stolen card run through many shops in one city within minutes."""
        rng = self._rng
        holder = self._victim()
        drafts = []
        for _ in range(rng.randint(6, 12)):
            merchant = self._merchant(
                holder.city, rng.choice(("5732", "5651", "5311", "5541", "5944", "5912"))
            )
            drafts.append(
                self._draft(
                    label,
                    holder,
                    merchant,
                    rng.choice(("card_present", "contactless")),
                    self._uniform_minor(merchant, 50.0, 400.0),
                    merchant.terminal,
                    merchant.location,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 2), drafts, strict=True))

    def _impossible_travel(self, label: Label) -> _Episode:
        """The cardholder pays at home; minutes later a clone is used over 5,000 km away."""
        rng = self._rng
        holder = self._victim()
        far = rng.choice(_FAR_FROM[holder.city])
        episode: _Episode = []
        if self._mix.legit > 0:
            at_home = self._merchant(holder.city, rng.choice(("5411", "5812", "5541")))
            episode.append(
                (
                    0,
                    self._draft(
                        _NORMAL, holder, at_home, "card_present", self._typical_minor(at_home)
                    ),
                )
            )
        offset = 0
        for _ in range(rng.randint(2, 3)):
            merchant = self._merchant(far, rng.choice(("5732", "5944", "6011", "5311")))
            channel = self._channel(merchant.kind)
            channel = "card_present" if channel == "ecommerce" else channel
            offset += rng.randint(1, 3) if episode else 0
            episode.append(
                (
                    offset,
                    self._draft(
                        label,
                        holder,
                        merchant,
                        channel,
                        self._uniform_minor(merchant, 80.0, 800.0),
                        merchant.terminal,
                        merchant.location,
                    ),
                )
            )
        return episode

    def _high_risk_merchant(self, label: Label) -> _Episode:
        """Gambling, crypto and money transfers at round or just-below-threshold amounts."""
        rng = self._rng
        holder = self._victim()
        city = rng.randrange(len(CITIES))
        device, location = self._fraudster(city, rng.choice(("mobile", "desktop")))
        drafts = []
        for _ in range(rng.randint(2, 4)):
            merchant = self._merchant(city, rng.choice(("7995", "6051", "4829")))
            drafts.append(
                self._draft(
                    label,
                    holder,
                    merchant,
                    "ecommerce",
                    self._round_minor(merchant, rng.uniform(400.0, 5000.0)),
                    device,
                    location,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 5), drafts, strict=True))

    def _round_minor(self, merchant: _Merchant, usd: float) -> int:
        """A round local amount (1,500) or one just below a round threshold (4,990)."""
        money = merchant.money
        local = usd * money.currency.units_per_usd
        magnitude = 10 ** math.floor(math.log10(local))
        amount = max(1, round(local / (magnitude / 2))) * magnitude / 2
        if self._rng.random() < 0.4:
            amount -= magnitude / 100
        return max(1, round(amount * money.scale))

    def _bust_out(self, label: Label) -> _Episode:
        """First-party fraud: the account owner maxes out the card before walking away."""
        rng = self._rng
        holder = self._victim()
        drafts = []
        for _ in range(rng.randint(3, 6)):
            mcc, low, high = rng.choice(
                (
                    ("5732", 1000.0, 3000.0),
                    ("5944", 2000.0, 6000.0),
                    ("6051", 500.0, 2000.0),
                    ("5311", 500.0, 1500.0),
                )
            )
            merchant = self._merchant(holder.city, mcc)
            channel: Channel = rng.choice(("card_present", "ecommerce"))
            drafts.append(
                self._draft(
                    label, holder, merchant, channel, self._uniform_minor(merchant, low, high)
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 6), drafts, strict=True))

    def _cross_border_cnp(self, label: Label) -> _Episode:
        """Stolen card details used online at foreign merchants from a foreign device."""
        rng = self._rng
        holder = self._victim()
        abroad = rng.choice(_FOREIGN_FROM[holder.city])
        device, location = self._fraudster(abroad, rng.choice(("mobile", "desktop")))
        drafts = []
        for _ in range(rng.randint(2, 4)):
            merchant = self._merchant(abroad, rng.choice(("5732", "5651", "4511", "5818")))
            drafts.append(
                self._draft(
                    label,
                    holder,
                    merchant,
                    "ecommerce",
                    self._uniform_minor(merchant, 150.0, 1200.0),
                    device,
                    location,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 4), drafts, strict=True))

    def _atm_cashout(self, label: Label) -> _Episode:
        """A cloned card emptied at several ATMs of one city in quick succession."""
        rng = self._rng
        holder = self._victim()
        city = rng.choice((holder.city, rng.randrange(len(CITIES))))
        drafts = []
        for _ in range(rng.randint(3, 6)):
            atm = self._merchant(city, "6011")
            drafts.append(
                self._draft(
                    label,
                    holder,
                    atm,
                    "atm",
                    self._uniform_minor(atm, 300.0, 1000.0),
                    atm.terminal,
                    atm.location,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 1, 3), drafts, strict=True))

    # -- edge cases: legit, but easy to mistake for fraud or to mishandle ------------------

    def _legit_travel(self, label: Label) -> _Episode:
        """A cardholder abroad; they never pay at home in this stream, so no speed is impossible."""
        rng = self._rng
        holder = self._holder(rng.choice(self._travellers)) if self._travellers else self._victim()
        abroad = (
            holder.destination
            if holder.destination is not None
            else rng.choice(_FOREIGN_FROM[holder.city])
        )
        stay = _place(CITIES[abroad], rng, 0.06)
        drafts = []
        for _ in range(rng.randint(2, 4)):
            merchant = self._merchant(abroad, rng.choice(("7011", "5812", "4121", "6011", "5814")))
            channel = self._channel(merchant.kind)
            online = channel == "ecommerce"
            drafts.append(
                self._draft(
                    label,
                    holder,
                    merchant,
                    channel,
                    self._typical_minor(merchant),
                    holder.devices[0] if online else None,
                    stay if online else None,
                )
            )
        return list(zip(_gaps(rng, len(drafts), 5, 60), drafts, strict=True))

    def _local_holder(self, minor_units: int) -> _Cardholder:
        return self._holder(self._rng.choice(self._by_minor_units[minor_units]))

    def _single(
        self,
        label: Label,
        holder: _Cardholder,
        merchant: _Merchant,
        amount_minor: int,
        channel: Channel | None = None,
    ) -> _Episode:
        channel = channel or self._channel(merchant.kind)
        return [(0, self._draft(label, holder, merchant, channel, amount_minor))]

    def _zero_decimal_large(self, label: Label) -> _Episode:
        holder = self._local_holder(0)
        merchant = self._merchant(holder.city, self._rng.choice(("5732", "5944", "4511")))
        return self._single(label, holder, merchant, self._uniform_minor(merchant, 1500.0, 8000.0))

    def _three_decimal_currency(self, label: Label) -> _Episode:
        holder = self._local_holder(3)
        merchant = self._local_merchant(holder.city)
        while merchant.kind.category == "atm_cash":
            merchant = self._local_merchant(holder.city)
        minor = self._typical_minor(merchant)
        if minor % 10 == 0:  # make the third decimal visible
            minor += self._rng.randint(1, 9)
        return self._single(label, holder, merchant, minor)

    def _minimum_amount(self, label: Label) -> _Episode:
        """One minor unit: a card check by a subscription service, easy to mistake for testing."""
        holder = self._resident()
        merchant = self._merchant(holder.city, self._rng.choice(("4899", "5818")))
        return self._single(label, holder, merchant, 1, "ecommerce")

    def _very_large_purchase(self, label: Label) -> _Episode:
        rng = self._rng
        holder = self._resident()
        mcc, low, high = rng.choice(
            (("5511", 10000.0, 40000.0), ("5944", 8000.0, 20000.0), ("4511", 5000.0, 15000.0))
        )
        merchant = self._merchant(holder.city, mcc)
        return self._single(label, holder, merchant, self._uniform_minor(merchant, low, high))

    def _unicode_merchant_name(self, label: Label) -> _Episode:
        holder = self._resident()
        merchant = self._rng.choice(_unicode_merchants()[holder.city])
        return self._single(label, holder, merchant, self._typical_minor(merchant))

    def _device_missing(self, label: Label) -> _Episode:
        """An in-person payment whose terminal sent no device data (device is null)."""
        holder = self._resident()
        merchant = self._merchant(holder.city, self._rng.choice(("5411", "5541", "5812")))
        return [
            (
                0,
                _Draft(
                    label,
                    holder.card,
                    holder.account_id,
                    merchant,
                    "card_present",
                    None,
                    merchant.location,
                    self._typical_minor(merchant),
                ),
            )
        ]

    def _local_midnight(self, label: Label) -> _Episode:
        """A purchase near midnight where the cardholder lives (daily limits roll over)."""
        city = min(self._by_city, key=lambda c: _seconds_from_midnight(CITIES[c], self._timestamp))
        holder = self._holder(self._rng.choice(self._by_city[city]))
        merchant = self._merchant(city, self._rng.choice(("5814", "4121", "5541", "5411")))
        return self._single(label, holder, merchant, self._typical_minor(merchant))

    def _cross_border_ecommerce(self, label: Label) -> _Episode:
        """The cardholder, at home on their own device, buys from a foreign web shop."""
        rng = self._rng
        holder = self._resident()
        merchant = self._merchant(
            rng.choice(_FOREIGN_FROM[holder.city]),
            rng.choice(("5651", "5732", "4511", "7011", "5818")),
        )
        return self._single(label, holder, merchant, self._typical_minor(merchant), "ecommerce")


def _seconds_from_midnight(city: City, timestamp: float) -> float:
    local = (timestamp + city.utc_offset_hours * 3600.0) % 86400.0
    return min(local, 86400.0 - local)
