"""Durations written by people: 90, "90s", "5m", "1h30m", "250ms"."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _finite(seconds: float, value: object) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"not a duration: {value!r} (a finite number of seconds)")
    return seconds


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as 30s, 5m, 1h30m; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        try:
            return _finite(float(value), value)
        except OverflowError:
            raise ValueError("not a duration: too large") from None
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 30s, 5m, 1h30m)")
    text = value.strip().lower().replace(" ", "")
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _finite(number, value)
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 30s, 5m, 1h30m)")
    return total


def format_duration(seconds: float) -> str:
    """mm:ss (or h:mm:ss) for displays."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
