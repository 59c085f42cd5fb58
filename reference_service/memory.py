"""Bounded per-card memory: what the agents may know about a card's earlier transactions."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, TypeVar

from reference_service.config import DetectionRules, MemoryLimits
from reference_service.payload import Transaction

PLACE_RADIUS_KM = 100.0
T = TypeVar("T")


class Sighting(NamedTuple):
    """Where and when (payload time) a card was used."""

    timestamp: float
    lat: float
    lon: float
    city: str | None
    country: str | None


class CardUse(NamedTuple):
    """One earlier use: its position in the traffic, payload time and USD amount (NaN: unpriced)."""

    tick: int
    timestamp: float
    usd: float


class CardContext(NamedTuple):
    """A card's history as it stood just before the transaction being scored.

    `tick` counts the transactions of the memory scope (the run) in arrival order, so
    windows can be sized in traffic as well as in seconds. Profile fields (devices,
    places, amounts) only learn from approved transactions, so fraud does not teach them.
    """

    tick: int
    active_cards: int
    prior_count: int
    recent: tuple[CardUse, ...]
    trusted_count: int
    amount_count: int
    amount_mean: float
    amount_std: float
    known_devices: tuple[str, ...]
    known_countries: tuple[str, ...]
    known_places: tuple[tuple[float, float], ...]
    previous: Sighting | None
    last_trusted: Sighting | None


@dataclass(slots=True)
class CardHistory:
    """What is remembered about one card; every collection is capped."""

    count: int = 0
    recent: list[CardUse] = field(default_factory=list)
    trusted_count: int = 0
    amount_count: int = 0
    amount_mean: float = 0.0
    amount_m2: float = 0.0
    devices: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    places: list[tuple[float, float]] = field(default_factory=list)
    previous: Sighting | None = None
    last_trusted: Sighting | None = None

    def context(self, tick: int, active_cards: int) -> CardContext:
        variance = self.amount_m2 / self.amount_count if self.amount_count > 1 else 0.0
        return CardContext(
            tick=tick,
            active_cards=active_cards,
            prior_count=self.count,
            recent=tuple(self.recent),
            trusted_count=self.trusted_count,
            amount_count=self.amount_count,
            amount_mean=self.amount_mean,
            amount_std=variance**0.5,
            known_devices=tuple(self.devices),
            known_countries=tuple(self.countries),
            known_places=tuple(self.places),
            previous=self.previous,
            last_trusted=self.last_trusted,
        )

    def record(self, txn: Transaction, tick: int, limits: MemoryLimits, horizon: Horizon) -> None:
        """Every transaction counts for velocity and travel, whatever its decision."""
        self.count += 1
        usd = float("nan") if txn.usd_amount is None else txn.usd_amount
        recent = self.recent
        recent.append(CardUse(tick, txn.timestamp, usd))
        oldest_tick = tick - horizon.ticks
        oldest_time = txn.timestamp - horizon.seconds
        while recent and (
            len(recent) > limits.max_events_per_card
            or recent[0].tick < oldest_tick
            or recent[0].timestamp < oldest_time
        ):
            del recent[0]
        sighting = _sighting(txn)
        if sighting is not None:
            self.previous = sighting

    def learn(self, txn: Transaction, limits: MemoryLimits) -> None:
        """An approved transaction becomes part of the card's normal profile."""
        self.trusted_count += 1
        usd = txn.usd_amount
        if usd is not None:
            self.amount_count += 1
            delta = usd - self.amount_mean
            self.amount_mean += delta / self.amount_count
            self.amount_m2 += delta * (usd - self.amount_mean)
        if txn.device_id is not None and txn.personal_device:
            _remember(self.devices, txn.device_id, limits.max_devices_per_card)
        if txn.country is not None:
            _remember(self.countries, txn.country, limits.max_countries_per_card)
        sighting = _sighting(txn)
        if sighting is not None:
            self.last_trusted = sighting
            if not any(_near(lat, lon, sighting.lat, sighting.lon) for lat, lon in self.places):
                _remember(self.places, (sighting.lat, sighting.lon), limits.max_places_per_card)


def _sighting(txn: Transaction) -> Sighting | None:
    if txn.lat is None or txn.lon is None:
        return None
    return Sighting(txn.timestamp, txn.lat, txn.lon, txn.city, txn.country)


def _near(lat1: float, lon1: float, lat2: float, lon2: float) -> bool:
    # One degree of latitude is ~111 km; a cheap box test is enough to merge places.
    box = PLACE_RADIUS_KM / 111.0
    return abs(lat1 - lat2) <= box and abs(lon1 - lon2) <= box * 2


def _remember(known: list[T], value: T, cap: int) -> None:
    if value in known:
        return
    known.append(value)
    if len(known) > cap:
        del known[0]


class Horizon(NamedTuple):
    """How far back any window reaches: older uses can be forgotten."""

    seconds: float
    ticks: float

    @classmethod
    def of(cls, rules: DetectionRules, active_cards: int) -> Horizon:
        windows = rules.windows()
        return cls(
            seconds=max(window.seconds for window in windows),
            ticks=max(window.ticks(active_cards) for window in windows),
        )


class HorizonOf:
    """`Horizon.of(rules, cards)` for fixed rules, with what does not depend on the cards
    worked out once: the widest window's ticks are max(min_ticks, share x cards) of the window
    with the largest of each (the same float: cards are never negative)."""

    def __init__(self, rules: DetectionRules) -> None:
        windows = rules.windows()
        self._seconds = float(max(window.seconds for window in windows))
        self._min_ticks = max(float(window.min_ticks) for window in windows)
        self._share = max(window.traffic_share for window in windows)

    def __call__(self, active_cards: int) -> Horizon:
        return Horizon(self._seconds, max(self._min_ticks, self._share * active_cards))


class TrafficCount(Protocol):
    """The traffic of each memory scope (a run): transactions so far and cards remembered.

    Windows sized in traffic read these, so when several processes share the cards they
    must count the traffic of all of them (cluster.SharedTraffic), not the process's own.
    """

    def arrive(self, scope_id: str, new_card: bool) -> None: ...

    def forget(self, scope_id: str) -> None: ...

    def now(self, scope_id: str) -> tuple[int, int]:
        """(transactions, cards) of the scope."""
        ...


@dataclass(slots=True)
class _Scope:
    ticks: int = 0
    cards: int = 0


class LocalTraffic:
    """The traffic one process sees; a scope is dropped once none of its cards is remembered."""

    def __init__(self) -> None:
        self._scopes: dict[str, _Scope] = {}

    def arrive(self, scope_id: str, new_card: bool) -> None:
        scope = self._scopes.get(scope_id)
        if scope is None:
            scope = self._scopes[scope_id] = _Scope()
        scope.ticks += 1
        scope.cards += new_card

    def forget(self, scope_id: str) -> None:
        scope = self._scopes[scope_id]
        scope.cards -= 1
        if scope.cards == 0:
            del self._scopes[scope_id]

    def now(self, scope_id: str) -> tuple[int, int]:
        scope = self._scopes.get(scope_id)
        return (0, 0) if scope is None else (scope.ticks, scope.cards)


class CardMemory:
    """LRU of card histories, capped at `limits.max_cards`; the least recent card is forgotten."""

    def __init__(
        self, limits: MemoryLimits, rules: DetectionRules, traffic: TrafficCount | None = None,
    ) -> None:
        self._limits = limits
        self._rules = rules
        self._cards: OrderedDict[tuple[str, str], CardHistory] = OrderedDict()
        self._traffic = traffic or LocalTraffic()
        self._horizon = HorizonOf(rules)

    def __len__(self) -> int:
        return len(self._cards)

    def observe(self, txn: Transaction) -> tuple[CardContext, CardHistory]:
        """The card's context before `txn`; `txn` is then recorded in the returned history."""
        scope_id = txn.run_id if self._limits.isolate_runs else ""
        traffic = self._traffic
        key = (scope_id, txn.card_id)
        history = self._cards.get(key)
        traffic.arrive(scope_id, history is None)
        if history is None:
            history = self._cards[key] = CardHistory()
            if len(self._cards) > self._limits.max_cards:
                self._forget_oldest()
        else:
            self._cards.move_to_end(key)
        ticks, cards = traffic.now(scope_id)
        context = history.context(ticks, cards)
        horizon = self._horizon(cards)
        history.record(txn, ticks, self._limits, horizon)
        return context, history

    def _forget_oldest(self) -> None:
        (scope_id, _), _ = self._cards.popitem(last=False)
        self._traffic.forget(scope_id)
