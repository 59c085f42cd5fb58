"""Fraud episodes: each pattern's transactions, as a fraudster (or the cardholder) makes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stresslab.generation.catalog import (
    CITIES,
    MCC_AIRLINES,
    MCC_ATM_CASH,
    MCC_CHARITIES,
    MCC_CLOTHING,
    MCC_DEPARTMENT_STORES,
    MCC_DIGITAL_GOODS,
    MCC_ELECTRONICS,
    MCC_FUEL,
    MCC_GAMBLING,
    MCC_GROCERY,
    MCC_JEWELRY,
    MCC_MONEY_TRANSFER,
    MCC_PHARMACY,
    MCC_QUASI_CASH_CRYPTO,
    MCC_RESTAURANTS,
)
from stresslab.generation.transactions.episode import Episode, EpisodeRegistry, gaps, spaced
from stresslab.generation.transactions.model import NORMAL, Channel, Label
from stresslab.generation.transactions.world import (
    FAR_FROM,
    FOREIGN_FROM,
    Cardholder,
    Draft,
    Merchant,
    ShardWorld,
)


@dataclass(frozen=True, slots=True)
class _Intruder:
    """Someone else on the victim's card: their own device, somewhere of their own."""

    label: Label
    holder: Cardholder
    device: dict[str, Any]
    location: dict[str, Any]

    def buys_online(self, merchant: Merchant, amount_minor: int) -> Draft:
        holder = self.holder
        return Draft(
            self.label,
            holder.card,
            holder.account_id,
            merchant,
            "ecommerce",
            self.device,
            self.location,
            amount_minor,
        )


def card_testing(world: ShardWorld, label: Label) -> Episode:
    """A burst of tiny online charges to see if the card works, then maybe a real one."""
    rng = world.rng
    holder = world.victim()
    city = rng.randrange(len(CITIES))
    intruder = _Intruder(label, holder, *world.fraudster(city, "desktop"))
    testing_ground = world.merchant(city, rng.choice((MCC_DIGITAL_GOODS, MCC_CHARITIES)))
    offsets = gaps(rng, rng.randint(4, 9), 1, 2)
    drafts = [
        intruder.buys_online(testing_ground, world.uniform_minor(testing_ground, 0.3, 2.0))
        for _ in offsets
    ]
    if rng.random() < 0.6:
        offsets.append(offsets[-1] + rng.randint(1, 4))
        cash_in = world.merchant(city, rng.choice((MCC_ELECTRONICS, MCC_JEWELRY)))
        drafts.append(intruder.buys_online(cash_in, world.uniform_minor(cash_in, 300.0, 1500.0)))
    return list(zip(offsets, drafts, strict=True))


def account_takeover(world: ShardWorld, label: Label) -> Episode:
    """New device, new place, then high-value online spend on the victim's account."""
    rng = world.rng
    holder = world.victim()
    fraudster = world.fraudster(
        rng.choice(FOREIGN_FROM[holder.city]), rng.choice(("mobile", "desktop"))
    )
    intruder = _Intruder(label, holder, *fraudster)
    drafts = []
    if rng.random() < 0.5:
        probe = world.merchant(holder.city, MCC_DIGITAL_GOODS)
        drafts.append(intruder.buys_online(probe, world.uniform_minor(probe, 5.0, 30.0)))
    for _ in range(rng.randint(2 - len(drafts), 3)):
        mcc, low, high = rng.choice(
            (
                (MCC_ELECTRONICS, 800.0, 3000.0),
                (MCC_JEWELRY, 1000.0, 5000.0),
                (MCC_MONEY_TRANSFER, 500.0, 2500.0),
            )
        )
        target = world.merchant(holder.city, mcc)
        drafts.append(intruder.buys_online(target, world.uniform_minor(target, low, high)))
    return spaced(rng, drafts, 1, 4)


def velocity_burst(world: ShardWorld, label: Label) -> Episode:
    """A stolen card run through many shops in one city within minutes."""
    rng = world.rng
    holder = world.victim()
    shops = (
        MCC_ELECTRONICS,
        MCC_CLOTHING,
        MCC_DEPARTMENT_STORES,
        MCC_FUEL,
        MCC_JEWELRY,
        MCC_PHARMACY,
    )
    drafts = []
    for _ in range(rng.randint(6, 12)):
        merchant = world.merchant(holder.city, rng.choice(shops))
        channel: Channel = rng.choice(("card_present", "contactless"))
        drafts.append(
            world.at_terminal(
                label, holder, merchant, channel, world.uniform_minor(merchant, 50.0, 400.0)
            )
        )
    return spaced(rng, drafts, 1, 2)


def impossible_travel(world: ShardWorld, label: Label) -> Episode:
    """The cardholder pays at home; minutes later a clone is used over 5,000 km away."""
    rng = world.rng
    holder = world.victim()
    far = rng.choice(FAR_FROM[holder.city])
    episode: Episode = []
    if world.legit_allowed:
        at_home = world.merchant(holder.city, rng.choice((MCC_GROCERY, MCC_RESTAURANTS, MCC_FUEL)))
        amount = world.typical_minor(at_home)
        episode.append((0, world.draft(NORMAL, holder, at_home, "card_present", amount)))
    offset = 0
    for _ in range(rng.randint(2, 3)):
        merchant = world.merchant(
            far, rng.choice((MCC_ELECTRONICS, MCC_JEWELRY, MCC_ATM_CASH, MCC_DEPARTMENT_STORES))
        )
        channel = world.channel(merchant.kind)
        channel = "card_present" if channel == "ecommerce" else channel
        offset += rng.randint(1, 3) if episode else 0
        amount = world.uniform_minor(merchant, 80.0, 800.0)
        episode.append((offset, world.at_terminal(label, holder, merchant, channel, amount)))
    return episode


def high_risk_merchant(world: ShardWorld, label: Label) -> Episode:
    """Gambling, crypto and money transfers at round or just-below-threshold amounts."""
    rng = world.rng
    holder = world.victim()
    city = rng.randrange(len(CITIES))
    intruder = _Intruder(label, holder, *world.fraudster(city, rng.choice(("mobile", "desktop"))))
    drafts = []
    for _ in range(rng.randint(2, 4)):
        merchant = world.merchant(
            city, rng.choice((MCC_GAMBLING, MCC_QUASI_CASH_CRYPTO, MCC_MONEY_TRANSFER))
        )
        amount = world.round_minor(merchant, rng.uniform(400.0, 5000.0))
        drafts.append(intruder.buys_online(merchant, amount))
    return spaced(rng, drafts, 1, 5)


def bust_out(world: ShardWorld, label: Label) -> Episode:
    """First-party fraud: the account owner maxes out the card before walking away."""
    rng = world.rng
    holder = world.victim()
    drafts = []
    for _ in range(rng.randint(3, 6)):
        mcc, low, high = rng.choice(
            (
                (MCC_ELECTRONICS, 1000.0, 3000.0),
                (MCC_JEWELRY, 2000.0, 6000.0),
                (MCC_QUASI_CASH_CRYPTO, 500.0, 2000.0),
                (MCC_DEPARTMENT_STORES, 500.0, 1500.0),
            )
        )
        merchant = world.merchant(holder.city, mcc)
        channel: Channel = rng.choice(("card_present", "ecommerce"))
        amount = world.uniform_minor(merchant, low, high)
        drafts.append(world.draft(label, holder, merchant, channel, amount))
    return spaced(rng, drafts, 1, 6)


def cross_border_cnp(world: ShardWorld, label: Label) -> Episode:
    """Stolen card details used online at foreign merchants from a foreign device."""
    rng = world.rng
    holder = world.victim()
    abroad = rng.choice(FOREIGN_FROM[holder.city])
    intruder = _Intruder(label, holder, *world.fraudster(abroad, rng.choice(("mobile", "desktop"))))
    drafts = []
    for _ in range(rng.randint(2, 4)):
        merchant = world.merchant(
            abroad, rng.choice((MCC_ELECTRONICS, MCC_CLOTHING, MCC_AIRLINES, MCC_DIGITAL_GOODS))
        )
        drafts.append(intruder.buys_online(merchant, world.uniform_minor(merchant, 150.0, 1200.0)))
    return spaced(rng, drafts, 1, 4)


def atm_cashout(world: ShardWorld, label: Label) -> Episode:
    """A cloned card emptied at several ATMs of one city in quick succession."""
    rng = world.rng
    holder = world.victim()
    city = rng.choice((holder.city, rng.randrange(len(CITIES))))
    drafts = []
    for _ in range(rng.randint(3, 6)):
        atm = world.merchant(city, MCC_ATM_CASH)
        amount = world.uniform_minor(atm, 300.0, 1000.0)
        drafts.append(world.at_terminal(label, holder, atm, "atm", amount))
    return spaced(rng, drafts, 1, 3)


# Fraud patterns by how often each opens a new fraud episode.
FRAUD_EPISODES: EpisodeRegistry = {
    "card_testing": (16, card_testing),
    "account_takeover": (14, account_takeover),
    "velocity_burst": (12, velocity_burst),
    "impossible_travel": (12, impossible_travel),
    "high_risk_merchant": (12, high_risk_merchant),
    "bust_out": (10, bust_out),
    "cross_border_cnp": (14, cross_border_cnp),
    "atm_cashout": (10, atm_cashout),
}
