"""How the service words its answers: JSON bodies, and a refused request's reason in one line."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError


def json_answer(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def one_line(error: ValidationError) -> str:
    """The first problem, as `field: message` (the field path joined by dots)."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"]) or "body"
    message = str(first["msg"]).removeprefix("Value error, ").replace("\n", " ")
    return f"{field}: {message}"
