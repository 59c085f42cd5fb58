"""The synthetic world: money, merchants and places shared by every shard, and each shard's
cardholders with the draws that pick who pays where, how and how much."""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from typing import Any, NamedTuple

from stresslab.generation.catalog import (
    CITIES,
    CURRENCIES,
    MCC_ATM_CASH,
    MCC_BY_CODE,
    MCC_FAST_FOOD,
    MCC_GROCERY,
    MCC_RESTAURANTS,
    MERCHANT_BRANDS,
    MERCHANT_CATEGORIES,
    UNICODE_MERCHANT_NAMES,
    City,
    Currency,
    MerchantCategory,
    city_distance_km,
)
from stresslab.generation.transactions.model import NORMAL, Channel, Label

CARDHOLDERS_PER_SHARD = 3000

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
_FAR_KM = 5000.0
_exp = math.exp


@dataclass(frozen=True, slots=True)
class Money:
    """Per-currency arithmetic precomputed once: the hot path only multiplies."""

    currency: Currency
    scale: int
    minor_per_usd: float
    usd_per_minor: float
    note_step: int  # cash withdrawals come in multiples of this (in minor units)


def _money(currency: Currency) -> Money:
    scale = 10**currency.minor_units
    note = 10 ** round(math.log10(20 * currency.units_per_usd))
    return Money(
        currency,
        scale,
        currency.units_per_usd * scale,
        currency.usd_per_unit / scale,
        max(1, round(note * scale)),
    )


MONEY: dict[str, Money] = {code: _money(c) for code, c in CURRENCIES.items()}


@dataclass(frozen=True, slots=True)
class Merchant:
    kind: MerchantCategory
    city: int
    money: Money
    payload: dict[str, Any]
    terminal: dict[str, Any]
    location: dict[str, Any]


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return f"2001:db8:{rng.getrandbits(16):x}::{rng.getrandbits(16):x}"
    return f"{rng.choice(_IP_PREFIXES)}{rng.randrange(1, 255)}"


def token(rng: random.Random, length: int) -> str:
    """Letters only, so that no identifier can hold a run of digits that looks like a PAN."""
    return f"{rng.getrandbits(4 * length):0{length}x}".translate(_HEX_AS_LETTERS)


def device(rng: random.Random, shard: int, kind: str) -> dict[str, Any]:
    return {"device_id": f"dev-{shard}-{token(rng, 10)}", "type": kind, "ip": _ip(rng)}


def place(city: City, rng: random.Random, spread: float) -> dict[str, Any]:
    return {
        "city": city.name,
        "country": city.country,
        "lat": round(city.lat + rng.uniform(-spread, spread), 4),
        "lon": round(city.lon + rng.uniform(-spread, spread), 4),
    }


def _make_merchant(
    kind: MerchantCategory, city_index: int, name: str, merchant_id: str, rng: random.Random
) -> Merchant:
    city = CITIES[city_index]
    payload = {
        "merchant_id": merchant_id,
        "name": name,
        "mcc": kind.mcc,
        "category": kind.category,
        "country": city.country,
        "city": city.name,
    }
    terminal_type = "atm" if kind.mcc == MCC_ATM_CASH else "pos"
    terminal_id = f"{terminal_type}-{merchant_id}"
    terminal = {"device_id": terminal_id, "type": terminal_type, "ip": _ip(rng)}
    return Merchant(
        kind, city_index, MONEY[city.currency], payload, terminal, place(city, rng, 0.04)
    )


@cache
def merchant_directory() -> dict[tuple[int, str], tuple[Merchant, ...]]:
    """Every (city, MCC) has a few merchants; identical in every shard and run."""
    rng = random.Random("stresslab/merchants/v1")
    directory: dict[tuple[int, str], tuple[Merchant, ...]] = {}
    for city_index, city in enumerate(CITIES):
        for kind in MERCHANT_CATEGORIES:
            directory[city_index, kind.mcc] = tuple(
                _make_merchant(
                    kind, city_index, f"{brand} {city.name}", f"mch-{city.code}-{kind.mcc}-{n}", rng
                )
                for n, brand in enumerate(MERCHANT_BRANDS[kind.category])
            )
    return directory


@cache
def unicode_merchants() -> tuple[tuple[Merchant, ...], ...]:
    """Per city: eateries and grocers whose names test every script and combining mark."""
    rng = random.Random("stresslab/unicode-merchants/v1")
    kinds = (MCC_BY_CODE[MCC_RESTAURANTS], MCC_BY_CODE[MCC_GROCERY], MCC_BY_CODE[MCC_FAST_FOOD])
    return tuple(
        tuple(
            _make_merchant(kinds[n % len(kinds)], city_index, name, f"mch-{city.code}-u{n}", rng)
            for n, name in enumerate(UNICODE_MERCHANT_NAMES)
        )
        for city_index, city in enumerate(CITIES)
    )


@cache
def _everyday_merchants() -> tuple[tuple[tuple[Merchant, ...], list[float]], ...]:
    """Per city: the merchants of routine spend and their cumulative weights."""
    directory = merchant_directory()
    per_city = []
    for city_index in range(len(CITIES)):
        merchants = [
            merchant
            for kind in MERCHANT_CATEGORIES
            if kind.everyday_weight > 0
            for merchant in directory[city_index, kind.mcc]
        ]
        weights = [
            m.kind.everyday_weight / len(MERCHANT_BRANDS[m.kind.category]) for m in merchants
        ]
        per_city.append((tuple(merchants), list(accumulate(weights))))
    return tuple(per_city)


def _far_cities(city_index: int) -> tuple[int, ...]:
    home = CITIES[city_index]
    far = tuple(i for i, c in enumerate(CITIES) if city_distance_km(home, c) > _FAR_KM)
    return far or (max(range(len(CITIES)), key=lambda i: city_distance_km(home, CITIES[i])),)


FAR_FROM: tuple[tuple[int, ...], ...] = tuple(_far_cities(i) for i in range(len(CITIES)))
FOREIGN_FROM: tuple[tuple[int, ...], ...] = tuple(
    tuple(j for j, other in enumerate(CITIES) if other.country != city.country) for city in CITIES
)


@dataclass(frozen=True, slots=True)
class Cardholder:
    card: dict[str, Any]
    account_id: str
    city: int
    devices: tuple[dict[str, Any], ...]
    home: dict[str, Any]
    usual: tuple[Merchant, ...]
    usual_cum: list[float]
    destination: int | None


class Draft(NamedTuple):
    """A transaction minus its position in the stream (id and timestamp).

    A NamedTuple, not a frozen dataclass: as immutable, and built several times faster (a
    frozen dataclass sets each field through object.__setattr__), once per request."""

    label: Label
    card: dict[str, Any]
    account_id: str
    merchant: Merchant
    channel: Channel
    device: dict[str, Any] | None
    location: dict[str, Any]
    amount_minor: int


Episode = list[tuple[int, Draft]]  # (slots after the first transaction, draft)


def _masked_pan(network: str, bin_: str, last4: str) -> str:
    if network == "amex":
        return f"{bin_[:4]} {bin_[4:]}**** *{last4}"
    return f"{bin_[:4]} {bin_[4:]}** **** {last4}"


class ShardWorld:
    """One shard's cardholders in the shared world, and every random draw of who, where, how
    and how much. All draws share the factory's one random stream, so their order is part of
    the output: the same seed gives the same transactions only while the order is kept."""

    def __init__(self, rng: random.Random, shard: int, legit_allowed: bool) -> None:
        self.rng = rng
        self.shard = shard
        self.legit_allowed = legit_allowed  # may an episode include legit transactions?
        self.now = 0.0  # intended send time of the transaction being drawn (epoch seconds)
        self._tag = f"{shard}-{token(rng, 6)}"
        self._directory = merchant_directory()
        self._everyday = _everyday_merchants()
        self._plan_cardholders()

    def _plan_cardholders(self) -> None:
        """Decide where each cardholder lives now; build the cardholder when first used."""
        rng = self.rng
        # the first cardholders cover every city, so every edge case finds a home for itself
        self._homes = [
            i if i < len(CITIES) else rng.randrange(len(CITIES))
            for i in range(CARDHOLDERS_PER_SHARD)
        ]
        self._destinations: list[int | None] = [
            rng.choice(FOREIGN_FROM[city])
            if i >= len(CITIES) and rng.random() < _TRAVELLER_SHARE
            else None
            for i, city in enumerate(self._homes)
        ]
        self._residents = [i for i, d in enumerate(self._destinations) if d is None]
        self.travellers = [i for i, d in enumerate(self._destinations) if d is not None]
        activity = [rng.lognormvariate(0.0, 0.75) for _ in self._residents]
        self._activity_cum = list(accumulate(activity))
        self.residents_by_city: dict[int, list[int]] = {}
        self.residents_by_minor_units: dict[int, list[int]] = {}
        for i in self._residents:
            city = self._homes[i]
            self.residents_by_city.setdefault(city, []).append(i)
            units = CURRENCIES[CITIES[city].currency].minor_units
            self.residents_by_minor_units.setdefault(units, []).append(i)
        # each cardholder has its own random stream, so building order cannot change them
        self._cardholder_seed = rng.getrandbits(64) << 16
        self._cardholder_rng = random.Random()
        self._holders: list[Cardholder | None] = [None] * CARDHOLDERS_PER_SHARD

    # -- who --------------------------------------------------------------------------

    def holder(self, index: int) -> Cardholder:
        holder = self._holders[index]
        if holder is None:
            holder = self._holders[index] = self._new_cardholder(index)
        return holder

    def _new_cardholder(self, index: int) -> Cardholder:
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
        devices = tuple(device(rng, self.shard, kind) for kind in kinds)
        merchants, cum = self._everyday[city]
        usual = tuple(rng.choices(merchants, cum_weights=cum, k=rng.randint(6, 10)))
        usual_cum = list(accumulate(rng.random() + 0.2 for _ in usual))
        return Cardholder(
            card=card,
            account_id=f"acct-{self._tag}-{index:05d}",
            city=city,
            devices=devices,
            home=place(CITIES[city], rng, 0.06),
            usual=usual,
            usual_cum=usual_cum,
            destination=self._destinations[index],
        )

    def resident(self) -> Cardholder:
        """A cardholder at home, busier cardholders more often."""
        cum = self._activity_cum
        return self.holder(self._residents[bisect(cum, self.rng.random() * cum[-1])])

    def victim(self) -> Cardholder:
        return self.holder(self.rng.choice(self._residents))

    def fraudster(self, city: int, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A device the cardholder never used, somewhere in ``city``."""
        return device(self.rng, self.shard, kind), place(CITIES[city], self.rng, 0.06)

    # -- where and how ------------------------------------------------------------------

    def local_merchant(self, city: int) -> Merchant:
        merchants, cum = self._everyday[city]
        return merchants[bisect(cum, self.rng.random() * cum[-1])]

    def merchant(self, city: int, mcc: str) -> Merchant:
        return self.rng.choice(self._directory[city, mcc])

    def channel(self, kind: MerchantCategory) -> Channel:
        if kind.mcc == MCC_ATM_CASH:
            return "atm"
        r = self.rng.random()
        if r < kind.online_share:
            return "ecommerce"
        if r < kind.online_share + (1.0 - kind.online_share) * _CONTACTLESS_SHARE:
            return "contactless"
        return "card_present"

    # -- how much -----------------------------------------------------------------------

    def typical_minor(self, merchant: Merchant) -> int:
        kind = merchant.kind
        usd = kind.median_usd * math.exp(kind.sigma * self.rng.gauss(0.0, 1.0))
        return _minor(merchant, usd)

    def uniform_minor(self, merchant: Merchant, low_usd: float, high_usd: float) -> int:
        return _minor(merchant, self.rng.uniform(low_usd, high_usd))

    def round_minor(self, merchant: Merchant, usd: float) -> int:
        """A round local amount (1,500) or one just below a round threshold (4,990)."""
        money = merchant.money
        local = usd * money.currency.units_per_usd
        magnitude = 10 ** math.floor(math.log10(local))
        amount = max(1, round(local / (magnitude / 2))) * magnitude / 2
        if self.rng.random() < 0.4:
            amount -= magnitude / 100
        return max(1, round(amount * money.scale))

    # -- drafts -------------------------------------------------------------------------

    def draft(
        self,
        label: Label,
        holder: Cardholder,
        merchant: Merchant,
        channel: Channel,
        amount_minor: int,
        device: dict[str, Any] | None = None,
        location: dict[str, Any] | None = None,
    ) -> Draft:
        """A transaction; device and location default to what the cardholder would use."""
        if device is None or location is None:
            usual_device, usual_location = self._usual_context(holder, merchant, channel)
            device = device or usual_device
            location = location or usual_location
        return Draft(
            label, holder.card, holder.account_id, merchant, channel, device, location, amount_minor
        )

    def at_terminal(
        self, label: Label, holder: Cardholder, merchant: Merchant, channel: Channel, minor: int
    ) -> Draft:
        """A payment on the merchant's own terminal, where the merchant is."""
        return Draft(
            label,
            holder.card,
            holder.account_id,
            merchant,
            channel,
            merchant.terminal,
            merchant.location,
            minor,
        )

    def _usual_context(
        self, holder: Cardholder, merchant: Merchant, channel: Channel
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        if channel == "ecommerce":
            return self.rng.choice(holder.devices), holder.home
        if channel == "contactless" and self.rng.random() < _WALLET_SHARE:
            phone = holder.devices[0]
            if phone["type"] == "mobile":
                return phone, merchant.location
        return merchant.terminal, merchant.location

    def routine_payment(self) -> Draft:
        """Legit everyday spend: a resident, mostly at one of their usual merchants.

        One for most requests, so resident, channel, typical_minor and draft are written out
        inline here: the same draws in the same order, without their calls."""
        rng = self.rng
        random_ = rng.random
        cum = self._activity_cum
        index = self._residents[bisect(cum, random_() * cum[-1])]
        holder = self._holders[index] or self.holder(index)
        if random_() < _USUAL_MERCHANT_SHARE:
            usual_cum = holder.usual_cum
            merchant = holder.usual[bisect(usual_cum, random_() * usual_cum[-1])]
        else:
            merchants, cum = self._everyday[holder.city]
            merchant = merchants[bisect(cum, random_() * cum[-1])]
        kind = merchant.kind
        channel: Channel
        if kind.mcc == MCC_ATM_CASH:
            channel = "atm"
        else:
            r = random_()
            online = kind.online_share
            if r < online:
                channel = "ecommerce"
            elif r < online + (1.0 - online) * _CONTACTLESS_SHARE:
                channel = "contactless"
            else:
                channel = "card_present"
        usd = kind.median_usd * _exp(kind.sigma * rng.gauss(0.0, 1.0))
        money = merchant.money  # _minor, written out
        if channel == "atm":  # cash comes in notes
            minor = max(1, round(usd * money.minor_per_usd / money.note_step)) * money.note_step
        else:
            minor = max(1, round(usd * money.minor_per_usd))
        if channel == "ecommerce":
            device: dict[str, Any] | None = rng.choice(holder.devices)
            location = holder.home
        else:
            device, location = merchant.terminal, merchant.location
            if channel == "contactless" and random_() < _WALLET_SHARE:
                phone = holder.devices[0]
                if phone["type"] == "mobile":
                    device = phone
        return Draft(
            NORMAL, holder.card, holder.account_id, merchant, channel, device, location, minor
        )


def _minor(merchant: Merchant, usd: float) -> int:
    money = merchant.money
    if merchant.kind.mcc == MCC_ATM_CASH:
        step = money.note_step
        return max(1, round(usd * money.minor_per_usd / step)) * step
    return max(1, round(usd * money.minor_per_usd))
