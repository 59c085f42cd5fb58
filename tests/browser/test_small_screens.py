"""The four dashboards on a phone (375x812) and a tablet (768x1024), in Debian's Chromium.

Each page is the built site served by a real `stresslab demo`, fed (Playwright's WebSocket
routing) a snapshot made by the real LiveFeed from a run's batches, so every number and chart
is drawn. On each page and size: no sideways scrolling, nothing wider than the screen, the
hero numbers inside the first screen without scrolling, and the charts as wide as their panels
(ECharts follows its container). Screenshots go to docs/screenshots/phone-*.png and tablet-*.png.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from stresslab.scenario.spec import parse_scenario
from tests.browser.conftest import PAGES, SCREENSHOTS, Demo, PageErrors
from tests.browser.feed import steady_snapshot

pytestmark = pytest.mark.timeout(240)

SIZES = {"phone": (375, 812), "tablet": (768, 1024)}
AGENTS = ("geographic_risk", "velocity_check", "device_fingerprint", "merchant_risk")
PATTERNS = ("card_testing", "account_takeover")
SECONDS = 40

# What a glance must find on each page without scrolling: the headline numbers.
HERO = {
    "presentation": ["[data-testid=hero] .hero-value"],
    "analytics": [".stat-strip .stat-value"],
    "agents": ["[data-testid=agent-cards] .agent-head",
               "[data-testid=agent-cards] .agent-metric .v"],
    "admin": ["[data-testid=run-pill]", "[data-testid=start-run]"],
}


def fed_snapshot() -> str:
    spec = parse_scenario({
        "name": "small-screens", "description": "a steady run with one latency fault",
        "phases": [{"shape": "constant", "tps": 20, "duration": SECONDS, "name": "steady"}],
        "faults": [{"type": "latency", "at": 10, "duration": 10, "label": "slow geo"}],
        "criteria": ["p95_ms < 1000"],
    }, "test")
    return steady_snapshot(
        spec, "r-small", "2026-12-03T17:30:00Z", SECONDS, decisions=("block", "review"),
        patterns=PATTERNS, agents=AGENTS, fault="slow geo", fail_every=9,
        latency_spread_s=0.002)


@pytest.fixture(scope="module")
def snapshot() -> str:
    return fed_snapshot()


def open_fed(browser: Any, demo: Demo, errors: PageErrors, page_name: str, snapshot: str,
             size: tuple[int, int]) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  device_scale_factor=2, is_mobile=True, has_touch=True)
    page = errors.watch(context.new_page())

    def feed(socket: Any) -> None:
        socket.send(snapshot)
        socket.on_message(lambda message: socket.send(snapshot) if "resync" in str(message)
                          else None)

    page.route_web_socket(re.compile(r".*/ws.*"), feed)
    page.goto(f"{demo.url}/{page_name}", wait_until="networkidle")
    return context, page


def overflowing(page: Any) -> list[str]:
    """Elements whose right edge passes the screen's (not inside a scrolling box)."""
    return page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
            const o = getComputedStyle(p).overflowX;
            if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
        return [...document.querySelectorAll('body *')].filter((el) => {
            const box = el.getBoundingClientRect();
            return box.width > 0 && box.right > width + 1 && !scrolls(el);
        }).slice(0, 8).map((el) => `${el.tagName.toLowerCase()}.${el.className} right=${
            Math.round(el.getBoundingClientRect().right)}`);
    }""")


@pytest.mark.parametrize("size_name", list(SIZES))
@pytest.mark.parametrize("page_name", PAGES)
def test_page_fits_a_small_screen_hero_first(
    browser: Any, demo: Demo, errors: PageErrors, snapshot: str, page_name: str,
    size_name: str,
) -> None:
    width, height = SIZES[size_name]
    # Given a page fed a live run, opened on a phone or a tablet
    context, page = open_fed(browser, demo, errors, page_name, snapshot, (width, height))
    try:
        page.wait_for_function(
            "() => document.querySelector('[data-metric][data-value]:not([data-value=\"\"]), "
            ".stat-value, .agent-card, [data-testid=infra]')")
        if page_name in ("analytics", "agents"):
            page.wait_for_selector("[data-testid^=chart-] canvas", state="attached")
        page.wait_for_timeout(1200)
        # Then nothing scrolls sideways and nothing is cut off at the right edge
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert overflowing(page) == []
        # And the hero numbers are inside the first screen
        assert page.evaluate("window.scrollY") == 0
        for selector in HERO[page_name]:
            boxes = [b for b in (e.bounding_box() for e in page.locator(selector).all()) if b]
            assert boxes, f"{selector} is not on the {page_name} page"
            for box in boxes:
                assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, (selector, box)
                assert box["y"] >= 0 and box["y"] + box["height"] <= height, (selector, box)
            clipped = page.eval_on_selector_all(
                selector, "(els) => els.filter((el) => el.scrollWidth > el.clientWidth + 1)"
                          ".map((el) => el.textContent)")
            assert clipped == [], f"{selector} cut off: {clipped}"
        # And every chart is drawn as wide as its panel
        for chart in page.locator("[data-testid^=chart-]").all():
            drawn = chart.evaluate("(el) => [el.clientWidth, "
                                   "el.querySelector('canvas')?.clientWidth ?? 0]")
            assert drawn[0] > 0 and abs(drawn[0] - drawn[1]) <= 2, drawn
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{size_name}-{page_name}.png"), full_page=True,
                        scale="css")
        # When the phone turns (the container changes), the charts follow it
        if page_name in ("analytics", "agents"):
            page.set_viewport_size({"width": height, "height": width})
            page.wait_for_timeout(600)
            for chart in page.locator("[data-testid^=chart-]").all()[:3]:
                drawn = chart.evaluate("(el) => [el.clientWidth, "
                                       "el.querySelector('canvas')?.clientWidth ?? 0]")
                assert abs(drawn[0] - drawn[1]) <= 2, drawn
            assert page.evaluate("document.documentElement.scrollWidth") <= height
        assert errors == []
    finally:
        context.close()
