"""The command line's flag values: each parsed, or refused in one line naming the flag."""

from __future__ import annotations

import argparse
import re
from typing import Any
from urllib.parse import urlsplit

from stresslab.scenario.durations import parse_duration


def positive_float(flag: str) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{flag} must be greater than 0, got {text}")
        return value

    return parse


def positive_int(flag: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} takes a whole number, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1, got {text}")
        return value

    return parse


def seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed takes a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be 0 or more, got {text}")
    return value


def duration(text: str) -> float:
    try:
        value = parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"--duration: {error}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--duration must be greater than 0, got {text}")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--port takes a whole number, got {text!r}") from None
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(f"--port must be within 0..65535, got {text}")
    return value


def target(text: str) -> str:
    if text == "local":
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"--target takes 'local' or an http(s) URL, got {text!r}")
    return text


def variable_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an environment variable name")
    return text


def otlp_endpoint(text: str) -> str:
    """An OTLP/HTTP collector: a base URL gets the metrics path, /v1/metrics, as OTLP's does."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise argparse.ArgumentTypeError(
            f"--otlp takes an http(s) URL of an OTLP/HTTP collector, e.g. "
            f"http://localhost:4318, got {text!r}")
    try:
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise argparse.ArgumentTypeError(f"--otlp has a bad port: {text!r}") from None
    if parts.path.rstrip("/").endswith("/v1/metrics"):
        return text
    return text.rstrip("/") + "/v1/metrics"


def baseline(text: str) -> str:
    """--baseline: a run id, a result folder, a summary.json, or last-pass."""
    if not text.strip() or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise argparse.ArgumentTypeError(
            f"--baseline takes a run id, a result folder, a summary.json or 'last-pass', "
            f"got {text!r}")
    return text
