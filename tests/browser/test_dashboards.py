"""The four dashboards in Chromium against a real `stresslab demo`: honest waiting states, a
run started and faulted from the admin page, numbers that agree with the run's summary,
exports, profiles, cinematic mode, and screenshots of every page for docs/screenshots."""

from __future__ import annotations

import json
import re
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import PAGES, SCREENSHOTS, Demo, PageErrors

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

HERO = ("transactions_processed", "fraud_blocked", "money_saved", "uptime_pct", "current_tps",
        "ai_accuracy")


def wait_until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.2)


def open_page(context: Any, errors: PageErrors, demo: Demo, path: str) -> Any:
    page = errors.watch(context.new_page())
    page.goto(f"{demo.url}/{path}")
    page.wait_for_selector('[data-testid="connection"][data-status="open"]', state="attached",
                           timeout=15_000)
    return page


def hero(page: Any, metric: str) -> float | None:
    raw = page.get_attribute(f'[data-metric="{metric}"]', "data-value")
    return float(raw) if raw else None


def run_status(page: Any) -> str:
    return page.get_attribute('[data-testid="run-pill"]', "data-status") or ""


def test_every_page_waits_honestly_before_any_run(demo: Demo, context: Any,
                                                  errors: PageErrors) -> None:
    # Given a demo server with no run yet
    for name in PAGES:
        # When each page loads
        page = open_page(context, errors, demo, name)
        # Then it says it waits, and shows no number it does not have
        if name == "presentation":
            assert page.inner_text('[data-testid="narrative"]').startswith("Waiting for a run")
            for metric in HERO:
                assert page.get_attribute(f'[data-metric="{metric}"]', "data-value") == ""
                assert page.inner_text(f'[data-metric="{metric}"]') == "—"
            assert "waiting for a run" in page.inner_text('[data-testid="business-value"]').lower()
            # and its flow, with nothing flowing, comes to rest and stays there (no frames spent
            # on a still page; the first messages, fonts and sizes may still draw a frame or two)
            canvas = page.locator('[data-testid="flow-canvas"]')

            def at_rest() -> bool:
                before = canvas.get_attribute("data-painted")  # noqa: B023
                page.wait_for_timeout(600)  # noqa: B023
                return before is not None and canvas.get_attribute("data-painted") == before  # noqa: B023

            wait_until(at_rest, 10, "the flow to stop drawing while nothing flows")
            before = canvas.get_attribute("data-painted")
            page.wait_for_timeout(1500)
            assert canvas.get_attribute("data-painted") == before
        elif name in ("analytics", "agents"):
            assert page.is_visible('[data-testid="waiting"]')
        else:
            assert "Waiting for a run" in page.inner_text('[data-testid="infra"]')
        for other in PAGES:
            assert page.is_visible(f'[data-testid="nav-{other}"]')
        # And it fits a 1280x720 screen without sideways scrolling
        page.set_viewport_size({"width": 1280, "height": 720})
        page.wait_for_timeout(200)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.close()
    assert errors == []


def test_a_run_from_the_admin_page_shows_live_agrees_with_its_summary_and_exports(
    demo: Demo, context: Any, errors: PageErrors, tmp_path: Path,
) -> None:
    # Given the presentation open, and the admin page opened with the printed token
    presentation = open_page(context, errors, demo, "presentation")
    admin = open_page(context, errors, demo, f"admin#token={demo.token}")
    assert "token" not in admin.url
    assert admin.is_hidden('[data-testid="token-box"]')
    offered = admin.eval_on_selector_all('[data-testid="scenario-select"] option',
                                         "options => options.map(o => o.value)")
    assert offered == [s["name"] for s in demo.api("/scenarios")["scenarios"]]

    # When a short smoke run starts from the admin page
    admin.select_option('[data-testid="scenario-select"]', "smoke")
    admin.fill('[data-testid="time-scale"]', "0.75")
    admin.fill('[data-testid="load-scale"]', "1")
    admin.click('[data-testid="start-run"]')
    result = wait_until(lambda: re.search(r"Started (\S+)",
                                          admin.inner_text('[data-testid="control-result"]')),
                        15, "the start confirmation")
    run_id = result.group(1)
    # (a second start is refused, and the API's words are shown as they are)
    admin.click('[data-testid="start-run"]')
    wait_until(lambda: "in progress" in admin.inner_text('[data-testid="control-result"]'), 10,
               "the refusal of a second run")
    assert "HTTP 409" in admin.inner_text('[data-testid="control-result"]')

    # Then the presentation's hero numbers move with real data
    first = wait_until(lambda: hero(presentation, "transactions_processed"), 20,
                       "the first transactions on the presentation")
    wait_until(lambda: (hero(presentation, "transactions_processed") or 0) > first, 10,
               "transactions_processed to grow")
    assert (hero(presentation, "current_tps") or 0) > 0
    assert float(presentation.get_attribute('[data-testid="flow-canvas"]', "data-rate")) > 0
    # (headless Chromium runs animation frames at about 1 a second in a page not in front)
    presentation.bring_to_front()
    frames = int(presentation.get_attribute('[data-testid="flow-canvas"]', "data-painted"))
    wait_until(lambda: int(presentation.get_attribute('[data-testid="flow-canvas"]',
                                                      "data-painted")) > frames + 5,
               5, "the flow to keep drawing while transactions flow")
    admin.bring_to_front()
    assert not presentation.inner_text('[data-testid="narrative"]').startswith("Waiting")

    # When a failure is injected from the admin page
    admin.wait_for_selector('[data-testid="inject-fault"]:not([disabled])', timeout=10_000)
    admin.select_option('[data-testid="fault-type"]', "agent_errors")
    admin.select_option('[data-testid="fault-target"]', "geographic_risk")
    admin.fill('[data-testid="fault-intensity"]', "0.5")
    admin.fill('[data-testid="fault-duration"]', "3")
    admin.click('[data-testid="inject-fault"]')
    wait_until(lambda: "Injected" in admin.inner_text('[data-testid="control-result"]'), 10,
               f"the injection confirmation, got "
               f"{admin.inner_text('[data-testid=control-result]')!r}")

    # Then the analytics timeline shades it
    analytics = open_page(context, errors, demo, "analytics")
    wait_until(lambda: int(analytics.get_attribute('[data-testid="chart-latency"]',
                                                   "data-faults") or 0) >= 1,
               15, "the fault window on the analytics charts")
    assert int(analytics.get_attribute('[data-testid="chart-latency"]', "data-seconds")) > 0
    assert int(analytics.get_attribute('[data-testid="chart-patterns"]', "data-cells")) > 0

    # And once the run is over, the page's hero numbers are the summary's
    record = demo.wait_for_run_end(run_id)
    summary = record["summary"]
    wait_until(lambda: run_status(presentation) not in ("", "running", "starting"), 15,
               "the presentation to see the run end")
    wait_until(lambda: hero(presentation, "transactions_processed") == summary["counts"]["ok"],
               10, f"transactions_processed == counts.ok ({summary['counts']['ok']}), page shows "
                   f"{hero(presentation, 'transactions_processed')}")
    assert hero(presentation, "fraud_blocked") == summary["accuracy"]["tp"]
    assert presentation.get_attribute('[data-testid="resilience"] .resilience', "data-stage") \
        in ("detected", "recovering", "recovered", "absorbed")

    # And the admin page exports the run's files
    admin.click(f'tr[data-run-id="{run_id}"]')
    for name in ("summary.json", "report.html", "timeseries.csv", "junit.xml"):
        with admin.expect_download() as download:
            admin.click(f'[data-testid="export-{name}"]')
        path = tmp_path / name
        download.value.save_as(path)
        text = path.read_text()
        if name == "summary.json":
            assert json.loads(text)["run_id"] == run_id
        elif name == "report.html":
            assert "<html" in text.lower()
        assert text
    assert [e for e in errors if "status of 409" not in e] == []  # the refused second start


def test_profiles_speak_to_their_audience_and_cinematic_mode_hides_the_controls(
    demo: Demo, context: Any, errors: PageErrors,
) -> None:
    board = demo.api("/profiles/board")
    # Given a finished run, when the board profile is asked for by URL
    page = open_page(context, errors, demo, "presentation?profile=board")
    # Then its wording, order and currency are used
    assert page.get_attribute("body", "data-profile") == "board"
    labels = page.eval_on_selector_all(".hero-card .hero-label", "ls => ls.map(l => l.textContent)")
    assert labels[0] == board["wording"]["labels"][board["emphasis"][0]]
    wait_until(lambda: page.get_attribute('[data-metric="money_saved"]', "data-currency"), 10,
               "money in the profile's currency")
    assert page.get_attribute('[data-metric="money_saved"]', "data-currency") == board["currency"]
    # And only sourced benchmarks, each with its source, are listed
    shown = page.eval_on_selector_all('[data-testid^="benchmark-"]',
                                      "bs => bs.map(b => b.dataset.testid.slice(10))")
    sourced = {b["id"] for b in demo.api("/benchmarks")["benchmarks"] if b.get("source")}
    assert shown and set(shown) <= sourced
    for benchmark_id in shown:
        assert "Source:" in page.inner_text(f'[data-testid="benchmark-{benchmark_id}"]')

    # When cinematic mode is asked for by URL
    page.goto(f"{demo.url}/presentation?cinematic=1")
    page.wait_for_selector("body.cinematic")
    # Then navigation and controls are hidden and one view is on stage
    assert page.is_hidden('[data-testid="topbar"]')
    assert page.is_hidden('[data-testid="cinematic-toggle"]')
    assert page.locator(".stage > .scene.current").count() == 1
    page.keyboard.press("Escape")
    page.wait_for_selector("body:not(.cinematic)")
    assert page.is_visible('[data-testid="topbar"]')

    assert errors == []

    # And an unknown profile is said plainly, with the default wording
    page.goto(f"{demo.url}/presentation?profile=nobody")
    page.wait_for_selector(".notice")
    assert "nobody" in page.inner_text(".notice")
    assert all("status of 404" in error for error in errors)  # the API's answer, as expected


def test_screenshots_of_the_four_pages_during_the_investor_demo(
    demo: Demo, context: Any, errors: PageErrors,
) -> None:
    # Given the investor demo compressed to a minute (a surge, an agent failing, recovery)
    started = demo.api("/runs", "POST", {"scenario": "investor-demo", "time_scale": 0.1,
                                         "load_scale": 0.1}, auth=True)
    scenario = next(s for s in demo.api("/scenarios")["scenarios"]
                    if s["name"] == "investor-demo")
    fault = scenario["faults"][0]
    after_fault = (fault["at_s"] + fault["duration_s"]) * 0.1 + 5
    presentation = open_page(context, errors, demo, "presentation")
    try:
        wait_until(lambda: presentation.evaluate(
            "window.__stresslab.state().latest?.elapsed_s ?? 0") >= after_fault,
            after_fault + 30, "the run to get past its failure")
        # When each page has been shown for a moment, then it is photographed
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        presentation.screenshot(path=str(SCREENSHOTS / "presentation.png"))
        cinematic = open_page(context, errors, demo, "presentation?cinematic=1")
        cinematic.wait_for_timeout(2000)
        cinematic.screenshot(path=str(SCREENSHOTS / "presentation-cinematic.png"))
        cinematic.close()
        for name in PAGES[1:]:
            path = f"admin#token={demo.token}" if name == "admin" else name
            page = open_page(context, errors, demo, path)
            page.wait_for_timeout(2000)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    finally:
        try:
            demo.api("/runs/current/stop", "POST", {}, auth=True)
        except urllib.error.HTTPError as error:
            assert error.code == 409  # it ended on its own meanwhile
        demo.wait_for_run_end(started["run_id"], 60)
    for name in PAGES:
        assert (SCREENSHOTS / f"{name}.png").stat().st_size > 50_000
    assert errors == []
