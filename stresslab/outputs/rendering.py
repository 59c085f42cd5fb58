"""The Jinja2 environment of the HTML outputs: packaged templates, autoescape, the inlined CSS."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


@dataclass(frozen=True)
class Tag:
    """A short styled word in a table cell: a PASS/FAIL badge, a ✓/✗ mark."""

    css: str
    text: str


def _pixels(value: float) -> str:
    return f"{value:.1f}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("stresslab.outputs", "templates"),
        autoescape=True,  # every string from a summary, a scenario or a target is text
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["px"] = _pixels
    env.tests["tag"] = lambda value: isinstance(value, Tag)
    return env


@cache
def stylesheet() -> Markup:
    """report.css, inlined into every page so a report is one self-contained file."""
    text = resources.files("stresslab.outputs").joinpath("static/report.css").read_text("utf-8")
    return Markup(text)  # our own packaged file, not input


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(stylesheet=stylesheet(), **context)


def render_markup(template: str, **context: Any) -> Markup:
    """A rendered fragment (e.g. an SVG chart) to embed in a page without escaping it again."""
    return Markup(environment().get_template(template).render(**context))
