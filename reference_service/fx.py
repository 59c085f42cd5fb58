"""Currency reference data for the target: USD rates and ISO-4217 minor units."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Approximate mid-market USD value of one unit; coarse on purpose, risk only needs magnitudes.
USD_PER_UNIT: Mapping[str, float] = MappingProxyType(
    {
        "USD": 1.0,
        "EUR": 1.08,
        "GBP": 1.27,
        "CHF": 1.13,
        "JPY": 1 / 150,
        "CNY": 0.138,
        "HKD": 0.128,
        "SGD": 0.74,
        "KRW": 1 / 1350,
        "INR": 0.012,
        "IDR": 1 / 15700,
        "VND": 1 / 24500,
        "THB": 0.028,
        "AUD": 0.66,
        "NZD": 0.60,
        "CAD": 0.73,
        "MXN": 0.058,
        "BRL": 0.18,
        "CLP": 1 / 930,
        "COP": 1 / 4000,
        "ARS": 1 / 900,
        "SEK": 0.095,
        "NOK": 0.094,
        "DKK": 0.145,
        "ISK": 0.0072,
        "PLN": 0.25,
        "CZK": 0.043,
        "HUF": 0.0028,
        "RON": 0.217,
        "TRY": 0.03,
        "RUB": 0.011,
        "UAH": 0.024,
        "ZAR": 0.054,
        "NGN": 1 / 1500,
        "EGP": 0.02,
        "KES": 0.0077,
        "AED": 0.272,
        "SAR": 0.267,
        "QAR": 0.275,
        "ILS": 0.27,
        "BHD": 2.65,
        "KWD": 3.25,
        "OMR": 2.60,
        "JOD": 1.41,
        "TND": 0.32,
        "MAD": 0.099,
        "PEN": 0.266,
        "TWD": 0.031,
        "PHP": 0.0172,
    }
)

# Currencies whose minor unit is not 1/100 (ISO 4217).
MINOR_UNIT_EXPONENT: Mapping[str, int] = MappingProxyType(
    {
        "JPY": 0,
        "KRW": 0,
        "VND": 0,
        "CLP": 0,
        "ISK": 0,
        "BHD": 3,
        "KWD": 3,
        "OMR": 3,
        "JOD": 3,
        "TND": 3,
        "IQD": 3,
        "LYD": 3,
        "XOF": 0,
        "XAF": 0,
        "PYG": 0,
        "UGX": 0,
        "RWF": 0,
    }
)


def to_usd(amount: float, currency: str) -> float | None:
    """USD value of `amount` in `currency`, or None when the currency is not in the table."""
    rate = USD_PER_UNIT.get(currency)
    return None if rate is None else amount * rate


def minor_unit_exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit."""
    return MINOR_UNIT_EXPONENT.get(currency, 2)
