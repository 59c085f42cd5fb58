"""One line from a pydantic ValidationError, naming each failing field.

Apart from spec.py so the target section (targets/section.py), which the spec holds, can use it
without importing the spec back.
"""

from __future__ import annotations

from pydantic import ValidationError

# an error whose message already names its place in full (e.g. target.auth.type: …)
PLACED_ERROR = "placed"


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each failing field and what is allowed."""
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(part) for part in item["loc"] if not _is_union_tag(part))
        message = item["msg"].removeprefix("Value error, ")
        placed = item["type"] == PLACED_ERROR
        parts.append(f"{location}: {message}" if location and not placed else message)
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and part in {
        "constant", "sustained", "ramp", "ramp-up", "ramp-down", "burst", "wave", "chaos",
    }
