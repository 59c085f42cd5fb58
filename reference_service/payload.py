"""Defensive parsing of a stresslab.transaction/v1 body into the fields the agents score."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from reference_service.fx import USD_PER_UNIT, minor_unit_exponent, to_usd

SCHEMA = "stresslab.transaction/v1"
UNKNOWN_RUN = "unknown"
# Device types that belong to the merchant, not to the cardholder.
TERMINAL_TYPES = frozenset({"pos", "atm"})
_MAX_TEXT = 256


class InvalidTransaction(ValueError):
    """A body that is not a usable transaction; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(slots=True)
class Transaction:
    """The subset of a transaction the agents need, already normalised."""

    transaction_id: str
    run_id: str
    timestamp: float
    amount: float
    currency: str
    usd_amount: float | None
    card_id: str
    card_country: str | None
    mcc: str
    merchant_country: str | None
    channel: str
    device_id: str | None
    personal_device: bool
    city: str | None
    country: str | None
    lat: float | None
    lon: float | None


def run_id_of(payload: object) -> str:
    """The run a body belongs to: transaction_id up to the first '/', else 'unknown'."""
    if isinstance(payload, dict):
        transaction_id = payload.get("transaction_id")
        if isinstance(transaction_id, str) and transaction_id:
            run_id = transaction_id.split("/", 1)[0]
            if run_id:
                return run_id
    return UNKNOWN_RUN


def parse_transaction(payload: object) -> Transaction:
    """Validate the fields the agents use; raise InvalidTransaction naming the first bad one."""
    if not isinstance(payload, dict):
        raise InvalidTransaction("body", "must be a JSON object")
    if payload.get("schema") != SCHEMA:
        raise InvalidTransaction("schema", f"must be {SCHEMA!r}")
    transaction_id = _text(payload, "transaction_id", "transaction_id")
    currency = _text(payload, "currency", "currency")
    if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
        raise InvalidTransaction("currency", "must be an ISO-4217 code like 'EUR'")
    amount = _amount(payload, currency)
    card = _object(payload, "card")
    merchant = _object(payload, "merchant")
    device = _optional_object(payload, "device")
    location = _optional_object(payload, "location")
    lat, lon = _coordinates(location)
    return Transaction(
        transaction_id=transaction_id,
        run_id=run_id_of(payload),
        timestamp=_timestamp(payload.get("timestamp")),
        amount=amount,
        currency=currency,
        usd_amount=to_usd(amount, currency),
        card_id=_text(card, "card_id", "card.card_id"),
        card_country=_optional_text(card, "country", "card.country"),
        mcc=_text(merchant, "mcc", "merchant.mcc"),
        merchant_country=_optional_text(merchant, "country", "merchant.country"),
        channel=_text(payload, "channel", "channel"),
        device_id=_optional_text(device, "device_id", "device.device_id"),
        personal_device=_optional_text(device, "type", "device.type") not in TERMINAL_TYPES,
        city=_optional_text(location, "city", "location.city"),
        country=_optional_text(location, "country", "location.country"),
        lat=lat,
        lon=lon,
    )


def _text(container: dict[str, object], key: str, field: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidTransaction(field, "must be a non-empty string")
    if len(value) > _MAX_TEXT:
        raise InvalidTransaction(field, f"must be at most {_MAX_TEXT} characters")
    return value


def _optional_text(container: dict[str, object] | None, key: str, field: str) -> str | None:
    if container is None or container.get(key) is None:
        return None
    return _text(container, key, field)


def _object(container: dict[str, object], key: str) -> dict[str, object]:
    value = container.get(key)
    if not isinstance(value, dict):
        raise InvalidTransaction(key, "must be an object")
    return value


def _optional_object(container: dict[str, object], key: str) -> dict[str, object] | None:
    value = container.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidTransaction(key, "must be an object or null")
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidTransaction(field, "must be a finite number")
    return float(value)


def _amount(payload: dict[str, object], currency: str) -> float:
    amount = _number(payload.get("amount"), "amount")
    if amount < 0:
        raise InvalidTransaction("amount", "must not be negative")
    amount_minor = payload.get("amount_minor")
    if amount_minor is not None:
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
            raise InvalidTransaction("amount_minor", "must be an integer")
        # Only currencies we know the minor unit of can be cross-checked.
        if currency in USD_PER_UNIT:
            scale = 10 ** minor_unit_exponent(currency)
            if abs(amount * scale - amount_minor) > 0.5:
                raise InvalidTransaction("amount_minor", f"does not match amount in {currency}")
    return amount


def _timestamp(value: object) -> float:
    if not isinstance(value, str):
        raise InvalidTransaction("timestamp", "must be an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidTransaction("timestamp", "must be an ISO-8601 string") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _coordinates(location: dict[str, object] | None) -> tuple[float | None, float | None]:
    if location is None or location.get("lat") is None or location.get("lon") is None:
        return None, None
    lat = _number(location.get("lat"), "location.lat")
    lon = _number(location.get("lon"), "location.lon")
    if not -90 <= lat <= 90:
        raise InvalidTransaction("location.lat", "must be within -90..90")
    if not -180 <= lon <= 180:
        raise InvalidTransaction("location.lon", "must be within -180..180")
    return lat, lon
