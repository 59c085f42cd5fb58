"""Edge-case episodes: legit transactions that are easy to mistake for fraud or to mishandle."""

from __future__ import annotations

from stresslab.generation.catalog import (
    CITIES,
    MCC_AIRLINES,
    MCC_ATM_CASH,
    MCC_CAR_DEALERS,
    MCC_CLOTHING,
    MCC_DIGITAL_GOODS,
    MCC_ELECTRONICS,
    MCC_FAST_FOOD,
    MCC_FUEL,
    MCC_GROCERY,
    MCC_HOTELS,
    MCC_JEWELRY,
    MCC_RESTAURANTS,
    MCC_STREAMING,
    MCC_TAXI_RIDESHARE,
    City,
)
from stresslab.generation.transactions.episode import Episode, EpisodeRegistry, spaced
from stresslab.generation.transactions.model import Channel, Label
from stresslab.generation.transactions.world import (
    FOREIGN_FROM,
    Cardholder,
    Draft,
    Merchant,
    ShardWorld,
    place,
    unicode_merchants,
)


def _single(
    world: ShardWorld,
    label: Label,
    holder: Cardholder,
    merchant: Merchant,
    amount_minor: int,
    channel: Channel | None = None,
) -> Episode:
    channel = channel or world.channel(merchant.kind)
    return [(0, world.draft(label, holder, merchant, channel, amount_minor))]


def _local_holder(world: ShardWorld, minor_units: int) -> Cardholder:
    """A resident whose home currency has ``minor_units`` decimals."""
    return world.holder(world.rng.choice(world.residents_by_minor_units[minor_units]))


def legit_travel(world: ShardWorld, label: Label) -> Episode:
    """A cardholder abroad; they never pay at home in this stream, so no speed is impossible."""
    rng = world.rng
    holder = world.holder(rng.choice(world.travellers)) if world.travellers else world.victim()
    abroad = (
        holder.destination
        if holder.destination is not None
        else rng.choice(FOREIGN_FROM[holder.city])
    )
    stay = place(CITIES[abroad], rng, 0.06)
    visitor_spend = (MCC_HOTELS, MCC_RESTAURANTS, MCC_TAXI_RIDESHARE, MCC_ATM_CASH, MCC_FAST_FOOD)
    drafts = []
    for _ in range(rng.randint(2, 4)):
        merchant = world.merchant(abroad, rng.choice(visitor_spend))
        channel = world.channel(merchant.kind)
        amount = world.typical_minor(merchant)
        if channel == "ecommerce":
            drafts.append(
                world.draft(label, holder, merchant, channel, amount, holder.devices[0], stay)
            )
        else:
            drafts.append(world.draft(label, holder, merchant, channel, amount))
    return spaced(rng, drafts, 5, 60)


def zero_decimal_large(world: ShardWorld, label: Label) -> Episode:
    holder = _local_holder(world, 0)
    merchant = world.merchant(
        holder.city, world.rng.choice((MCC_ELECTRONICS, MCC_JEWELRY, MCC_AIRLINES))
    )
    return _single(world, label, holder, merchant, world.uniform_minor(merchant, 1500.0, 8000.0))


def three_decimal_currency(world: ShardWorld, label: Label) -> Episode:
    holder = _local_holder(world, 3)
    merchant = world.local_merchant(holder.city)
    while merchant.kind.mcc == MCC_ATM_CASH:
        merchant = world.local_merchant(holder.city)
    minor = world.typical_minor(merchant)
    if minor % 10 == 0:  # make the third decimal visible
        minor += world.rng.randint(1, 9)
    return _single(world, label, holder, merchant, minor)


def minimum_amount(world: ShardWorld, label: Label) -> Episode:
    """One minor unit: a card check by a subscription service, easy to mistake for testing."""
    holder = world.resident()
    merchant = world.merchant(holder.city, world.rng.choice((MCC_STREAMING, MCC_DIGITAL_GOODS)))
    return _single(world, label, holder, merchant, 1, "ecommerce")


def very_large_purchase(world: ShardWorld, label: Label) -> Episode:
    holder = world.resident()
    mcc, low, high = world.rng.choice(
        (
            (MCC_CAR_DEALERS, 10000.0, 40000.0),
            (MCC_JEWELRY, 8000.0, 20000.0),
            (MCC_AIRLINES, 5000.0, 15000.0),
        )
    )
    merchant = world.merchant(holder.city, mcc)
    return _single(world, label, holder, merchant, world.uniform_minor(merchant, low, high))


def unicode_merchant_name(world: ShardWorld, label: Label) -> Episode:
    holder = world.resident()
    merchant = world.rng.choice(unicode_merchants()[holder.city])
    return _single(world, label, holder, merchant, world.typical_minor(merchant))


def device_missing(world: ShardWorld, label: Label) -> Episode:
    """An in-person payment whose terminal sent no device data (device is null)."""
    holder = world.resident()
    merchant = world.merchant(
        holder.city, world.rng.choice((MCC_GROCERY, MCC_FUEL, MCC_RESTAURANTS))
    )
    amount = world.typical_minor(merchant)
    draft = Draft(
        label,
        holder.card,
        holder.account_id,
        merchant,
        "card_present",
        None,
        merchant.location,
        amount,
    )
    return [(0, draft)]


def local_midnight(world: ShardWorld, label: Label) -> Episode:
    """A purchase near midnight where the cardholder lives (daily limits roll over)."""
    residents = world.residents_by_city
    city = min(residents, key=lambda c: _seconds_from_midnight(CITIES[c], world.now))
    holder = world.holder(world.rng.choice(residents[city]))
    merchant = world.merchant(
        city, world.rng.choice((MCC_FAST_FOOD, MCC_TAXI_RIDESHARE, MCC_FUEL, MCC_GROCERY))
    )
    return _single(world, label, holder, merchant, world.typical_minor(merchant))


def cross_border_ecommerce(world: ShardWorld, label: Label) -> Episode:
    """The cardholder, at home on their own device, buys from a foreign web shop."""
    rng = world.rng
    holder = world.resident()
    merchant = world.merchant(
        rng.choice(FOREIGN_FROM[holder.city]),
        rng.choice((MCC_CLOTHING, MCC_ELECTRONICS, MCC_AIRLINES, MCC_HOTELS, MCC_DIGITAL_GOODS)),
    )
    return _single(world, label, holder, merchant, world.typical_minor(merchant), "ecommerce")


def _seconds_from_midnight(city: City, timestamp: float) -> float:
    local = (timestamp + city.utc_offset_hours * 3600.0) % 86400.0
    return min(local, 86400.0 - local)


# Edge cases by how often each opens a new edge-case episode; legit travel is twice as common.
EDGE_EPISODES: EpisodeRegistry = {
    "legit_travel": (20, legit_travel),
    "zero_decimal_large": (10, zero_decimal_large),
    "three_decimal_currency": (10, three_decimal_currency),
    "minimum_amount": (10, minimum_amount),
    "very_large_purchase": (10, very_large_purchase),
    "unicode_merchant_name": (10, unicode_merchant_name),
    "device_missing": (10, device_missing),
    "local_midnight": (10, local_midnight),
    "cross_border_ecommerce": (10, cross_border_ecommerce),
}
