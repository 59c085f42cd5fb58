"""How the outputs write numbers: counts, units, percentages, money, clock times, axis ticks."""

from __future__ import annotations

import math
from typing import Any

NA = "n/a"


def finite(value: Any) -> float | None:
    """A finite number as float; None for null, booleans, text and NaN/inf."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def whole(value: Any) -> int | None:
    """A whole number as int; None for anything else (fractions included)."""
    number = finite(value)
    return int(number) if number is not None and number.is_integer() else None


def format_number(value: Any) -> str:
    """Human-readable number; "n/a" for null or non-finite values."""
    if value is None:
        return NA
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return NA
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def format_fixed(value: Any, digits: int = 1) -> str:
    """Thousands-separated, with `digits` decimals unless the value is whole (capacity steps)."""
    if value is None:
        return NA
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.{digits}f}"
    return f"{value:,.0f}"


def format_unit(value: Any, unit: str) -> str:
    text = format_number(value)
    return text if text == NA else f"{text} {unit}"


def format_percent(ratio: Any) -> str:
    """A ratio (0.25) as a percentage with two decimals (25.00%)."""
    number = finite(ratio)
    return NA if number is None else f"{number * 100:.2f}%"


def format_signed_percent(pct: Any) -> str:
    """A value already in percent (-0.13) with its sign (-0.13%)."""
    number = finite(pct)
    return NA if number is None else f"{number:+,.2f}%"


def format_money(value: Any, currency: str, *, unit_cost: bool = False) -> str:
    """An amount with its currency code; a unit cost keeps its significant digits."""
    number = finite(value)
    if number is None:
        return NA
    text = format_number(number) if unit_cost else f"{number:,.2f}"
    return f"{currency} {text}".strip()


def format_clock(seconds: float) -> str:
    """Elapsed seconds as mm:ss (h:mm:ss past one hour)."""
    total = int(round(seconds))
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}:{minutes:02d}:{secs:02d}"
    return f"{sign}{minutes:02d}:{secs:02d}"


def format_clock_or_na(value: Any) -> str:
    number = finite(value)
    return NA if number is None else format_clock(number)


def format_axis_number(value: float, significant: int | None = None) -> str:
    """Compact tick label: 1500 -> 1.5k; below 1,000 with `significant` digits if given."""
    value = round(value, 9)
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e3:
        return f"{value / 1e3:g}k"
    if significant is not None and value != 0:
        return f"{value:.{significant}g}"
    return f"{value:g}"
