"""Every page names the system under test; the reference service is never called "AI agents".

The pages are the built site served by a real `stresslab demo`, in Debian's Chromium; the live
feed is replaced (Playwright's WebSocket routing) by a snapshot made with the real LiveFeed,
once for the bundled reference service and once for a foreign platform.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from stresslab.judgement.business import load_price_table
from stresslab.measurement.aggregate import RunAggregator
from stresslab.measurement.live import describe_run
from stresslab.measurement.live_feed import LiveFeed
from stresslab.measurement.metrics import WindowStats, record_us
from stresslab.scenario.spec import parse_scenario
from stresslab.targets.identity import TargetIdentity, identify_target
from stresslab.targets.section import parse_target
from tests.browser.conftest import Demo, PageErrors

pytestmark = pytest.mark.timeout(180)

SECONDS = 5
PAGES = ("presentation", "analytics", "agents", "admin")
AGENTS = ("velocity", "geographic_risk", "merchant_risk", "behavioral")
FOREIGN_URL = "https://fraud.partner.example:8443/api/v2/assess?key=planted-s3cret"


def snapshot_for(identity: TargetIdentity, url: str) -> str:
    spec = parse_scenario({"name": "named", "phases": [
        {"shape": "constant", "tps": 20, "duration": SECONDS}]}, "test")
    run = describe_run(spec, "r-named", "2026-12-03T13:00:00Z", "running", url,
                       [20.0] * SECONDS, identity)
    feed = LiveFeed(spec, run, load_price_table(), usd_to_currency=1.0)
    aggregator = RunAggregator(run.run_id, [20.0] * SECONDS)
    for second in range(SECONDS):
        stats = WindowStats()
        stats.scheduled = stats.sent = stats.ok = 20
        for i in range(20):
            record_us(stats.latency, 0.02)
            stats.record_decision("block" if i % 5 == 0 else "approve", i % 5 == 0,
                                  i % 5 == 0, "card_testing" if i % 5 == 0 else "normal", 50.0)
            for agent in AGENTS:
                stats.record_agent(agent, 0.005, failed=False)
        aggregator.add(stats.to_batch(run.run_id, "w0", 0, 0, second, second))
        feed.tick(aggregator, second)
    return feed.snapshot().to_json()


REFERENCE = identify_target("http://127.0.0.1:8123/v1/score", reference=True)
FOREIGN = identify_target(FOREIGN_URL, section=parse_target(
    {"name": "Partner Fraud API", "url": FOREIGN_URL.replace("planted-s3cret", "${env:K}")}))


def open_fed(context: Any, demo: Demo, errors: PageErrors, page_name: str, snapshot: str,
             query: str = "") -> Any:
    page = errors.watch(context.new_page())

    def feed(socket: Any) -> None:
        socket.send(snapshot)
        socket.on_message(lambda message: socket.send(snapshot) if "resync" in str(message)
                          else None)

    page.route_web_socket(re.compile(r".*/ws.*"), feed)
    page.goto(f"{demo.url}/{page_name}.html{query}", wait_until="networkidle")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=system-under-test]')?.textContent")
    return page


@pytest.mark.parametrize("query", ["", "?profile=investor"])
def test_the_presentation_of_the_reference_service_says_simulated_agents_never_ai_agents(
    context: Any, demo: Demo, errors: PageErrors, query: str,
) -> None:
    # Given the presentation (default and investor wording) fed a run of the reference service
    page = open_fed(context, demo, errors, "presentation", snapshot_for(REFERENCE, "http://x"),
                    query)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=value-cost]')?.textContent")
    text = page.inner_text("body")
    # Then it says what it is, and calls nothing "AI agent"
    assert "reference service — simulated agents" in text
    assert page.inner_text("[data-testid=system-under-test]") == \
        "vs reference service — simulated agents"
    assert "simulated agents" in page.text_content("[data-testid=flow] .panel-title")
    assert not re.search(r"\bAI agents?\b", text, re.IGNORECASE), text
    # And its cost is said to be modelled
    assert "(modelled)" in page.inner_text("[data-testid=value-cost]")
    assert "(modelled)" in page.inner_text("[data-testid=value-roi]")
    assert not errors


@pytest.mark.parametrize("page_name", PAGES)
def test_a_foreign_target_is_named_with_its_host_on_every_page(
    context: Any, demo: Demo, errors: PageErrors, page_name: str,
) -> None:
    # Given a page fed a run against a foreign platform
    page = open_fed(context, demo, errors, page_name, snapshot_for(FOREIGN, FOREIGN_URL))
    shown = page.inner_text("[data-testid=system-under-test]")
    # Then the header names it by its name, kind and host, and never shows the URL's secret
    assert shown == "vs Partner Fraud API (http, fraud.partner.example:8443)"
    assert page.locator("[data-testid=system-under-test]").is_visible()
    assert "planted-s3cret" not in page.inner_text("header")
    if page_name == "presentation":
        # a real platform keeps the profile's "AI agents" wording
        assert "AI agents" in page.text_content("[data-testid=flow] .panel-title")
    assert not errors
