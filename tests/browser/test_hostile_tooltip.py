"""Hostile names on the dashboards: markup from a target or a scenario is shown as text.

The pages are the built site served by a real `stresslab demo`, in Debian's Chromium. The
live feed is replaced (Playwright's WebSocket routing) by ticks made with the real LiveFeed
from an aggregator whose batches carry markup in agent, pattern, decision and fault names, as
a worker without bounds or a foreign MetricsBatch producer could send them.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from stresslab.scenario.spec import parse_scenario
from tests.browser.conftest import Demo, PageErrors
from tests.browser.feed import steady_snapshot

pytestmark = pytest.mark.timeout(180)

PAYLOAD = "<img src=x onerror=window.__pwned=1>"
AGENTS = (PAYLOAD, '"><svg onload=window.__pwned=2>', "geo_risk")
PATTERNS = ("<img src=y onerror=window.__pwned=3>", "card_testing")
SECONDS = 40


def hostile_snapshot() -> str:
    spec = parse_scenario({
        "name": "hostile", "description": f"described as {PAYLOAD}",
        "phases": [{"shape": "constant", "tps": 20, "duration": SECONDS,
                    "name": "<b>phase</b>"}],
        "faults": [{"type": "latency", "at": 10, "duration": 10, "label": PAYLOAD}],
        "criteria": ["p95_ms < 1000"],
    }, "test")
    return steady_snapshot(
        spec, "r-hostile", "2026-12-03T13:00:00Z", SECONDS, decisions=("block", PAYLOAD),
        patterns=PATTERNS, agents=AGENTS, fault=PAYLOAD, fail_every=7)


@pytest.fixture(scope="module")
def snapshot() -> str:
    return hostile_snapshot()


def open_fed(context: Any, demo: Demo, errors: PageErrors, page_name: str, snapshot: str) -> Any:
    page = errors.watch(context.new_page())

    def feed(socket: Any) -> None:
        socket.send(snapshot)
        socket.on_message(lambda message: socket.send(snapshot) if "resync" in str(message)
                          else None)

    page.route_web_socket(re.compile(r".*/ws.*"), feed)
    page.goto(f"{demo.url}/{page_name}", wait_until="networkidle")
    return page


def sweep(page: Any, selector: str) -> list[str]:
    """Move the mouse over a grid of points on the chart; the tooltips' texts seen."""
    box = page.locator(selector).bounding_box()
    assert box, f"{selector} is not on the page"
    seen = []
    for fy in (0.1, 0.25, 0.4, 0.55, 0.7, 0.85):
        for fx in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9):
            page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            page.wait_for_timeout(30)
            text = page.evaluate("""(sel) => [...document.querySelectorAll(sel + ' div')]
                .filter((d) => getComputedStyle(d).position === 'absolute'
                               && d.style.display !== 'none' && d.textContent)
                .map((d) => d.textContent).join(' | ')""", selector)
            if text:
                seen.append(text)
    return seen


def assert_not_pwned(page: Any) -> None:
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("document.querySelectorAll('img[src=x], img[src=y], svg[onload]')"
                         ".length") == 0


@pytest.mark.parametrize("page_name, chart, shown", [
    ("agents", "[data-testid=chart-agent-health]", "<img src=x onerror=window. pwned=1>"),
    ("analytics", "[data-testid=chart-patterns]", "<img src=y onerror=window. pwned=3>"),
])
def test_markup_in_names_is_text_in_chart_tooltips(
    context: Any, demo: Demo, errors: PageErrors, snapshot: str, page_name: str, chart: str,
    shown: str,
) -> None:
    # Given a page fed a run whose names carry markup
    page = open_fed(context, demo, errors, page_name, snapshot)
    page.wait_for_function(
        "(sel) => document.querySelector(sel)?.querySelector('canvas')", arg=chart)
    page.wait_for_timeout(500)
    # When every part of the heat map is hovered
    seen = sweep(page, chart)
    # Then the tooltips showed the names as text, and no markup ran
    assert any(shown in text for text in seen), seen
    assert_not_pwned(page)
    assert not [e for e in errors if "__pwned" in e]


@pytest.mark.parametrize("page_name", ["presentation", "analytics", "agents", "admin"])
def test_no_page_runs_markup_from_the_feed(
    context: Any, demo: Demo, errors: PageErrors, snapshot: str, page_name: str,
) -> None:
    page = open_fed(context, demo, errors, page_name, snapshot)
    page.wait_for_timeout(1500)
    for chart in page.locator("[data-testid^=chart-]").all()[:4]:
        box = chart.bounding_box()
        if box:
            for fx in (0.3, 0.6, 0.9):
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] / 2)
                page.wait_for_timeout(30)
    assert_not_pwned(page)
    assert PAYLOAD not in page.content() or "&lt;img src=x" in page.content()
