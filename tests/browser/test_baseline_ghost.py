"""The analytics page compares a live run with a finished one: real runs in a real `stresslab
demo`, the built site in Debian's Chromium. Run A finishes, run B runs; the page opened with
?baseline=A draws A's stored series as ghost lines behind B's live ones."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import SCREENSHOTS, Demo, PageErrors, start_demo, stop_demo

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

LATENCY = {"p50": "p50_ms", "p95": "p95_ms", "p99": "p99_ms"}


@pytest.fixture(scope="module")
def own_demo(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """A demo of its own: the runs this test leaves in the store are nobody else's business."""
    running = start_demo(tmp_path_factory.mktemp("ghost"))
    yield running
    stop_demo(running)


def start(demo: Demo, seconds: int, tps: int) -> str:
    started = demo.api("/runs", "POST", {"scenario": "smoke", "tps": tps,
                                         "duration": f"{seconds}s"}, auth=True)
    return str(started["run_id"])


def finish(demo: Demo, run_id: str) -> None:
    """The run stored with its summary, and the server free for the next one."""
    demo.wait_for_run_end(run_id)
    deadline = time.monotonic() + 30
    while demo.api("/runs")["current"] is not None:
        assert time.monotonic() < deadline, f"run {run_id} still current"
        time.sleep(0.2)


def exported_ok(demo: Demo, run_id: str) -> dict[int, int]:
    """A's answered per second from its timeseries.csv export: the store's rows by another
    path than the series endpoint."""
    request = urllib.request.Request(f"{demo.url}/api/runs/{run_id}/export/timeseries.csv",
                                     headers={"Authorization": f"Bearer {demo.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        rows = csv.DictReader(io.StringIO(response.read().decode()))
        return {int(row["second"]): int(row["ok"]) for row in rows}


def ghost_of(page: Any, chart: str) -> tuple[str, list[dict[str, Any]]]:
    held = page.eval_on_selector(f"[data-testid=chart-{chart}]",
                                 "(el) => [el.dataset.ghost, el.dataset.ghostSeries]")
    return held[0], json.loads(held[1] or "[]")


def seconds_drawn(page: Any) -> int:
    return int(page.eval_on_selector("[data-testid=chart-latency]",
                                     "(el) => el.dataset.seconds || '0'"))


def wait_ghost(page: Any, run_id: str) -> None:
    page.wait_for_function(
        "(id) => document.querySelector('[data-testid=chart-latency]')?.dataset.ghost === id",
        arg=run_id, timeout=20_000)


def test_a_finished_run_is_drawn_as_a_ghost_behind_the_live_one(
    own_demo: Demo, browser: Any, errors: PageErrors,
) -> None:
    demo = own_demo
    # Given run A, finished, and run B, running now
    first = start(demo, 6, 20)
    finish(demo, first)
    live = start(demo, 25, 12)
    stored = demo.api(f"/runs/{first}/series")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = errors.watch(context.new_page())
    try:
        # When the analytics page is opened with ?baseline=A while B runs
        page.goto(f"{demo.url}/analytics?baseline={first}", wait_until="networkidle")
        wait_ghost(page, first)
        page.wait_for_function("() => Number(document.querySelector("
                               "'[data-testid=chart-latency]').dataset.seconds) >= 2",
                               timeout=30_000)
        # Then the throughput chart's ghost is A's answered per second, at A's seconds
        assert page.input_value("[data-testid=baseline-select]") == first
        _, throughput = ghost_of(page, "accuracy-load")
        assert [g["name"] for g in throughput] == [f"baseline {first}"]
        points = [(s["second"], s["ok"]) for s in stored["seconds"]]
        assert [tuple(p) for p in throughput[0]["data"]] == points
        assert dict(points) == exported_ok(demo, first) and sum(ok for _, ok in points) == 120
        # And the latency chart's three ghosts are A's p50/p95/p99, under one legend name
        _, latency = ghost_of(page, "latency")
        assert [g["name"] for g in latency] == [f"baseline {first}"] * 3
        for ghost, key in zip(latency, LATENCY.values(), strict=True):
            assert [tuple(p) for p in ghost["data"]] == [
                (s["second"], s[key]) for s in stored["seconds"]]
        # And the live series keeps growing beside it
        before = seconds_drawn(page)
        page.wait_for_function(
            "(n) => Number(document.querySelector('[data-testid=chart-latency]')"
            ".dataset.seconds) >= n + 2", arg=before, timeout=30_000)
        assert ghost_of(page, "latency")[0] == first
        page.wait_for_timeout(400)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "analytics-baseline.png"))

        # When the baseline is cleared, the ghost goes and the address forgets it
        page.select_option("[data-testid=baseline-select]", "")
        wait_ghost(page, "")
        assert ghost_of(page, "accuracy-load") == ("", [])
        assert "baseline=" not in page.url
        page.reload(wait_until="networkidle")
        page.wait_for_selector(f"[data-testid=baseline-select] option[value='{first}']",
                               state="attached")
        assert ghost_of(page, "latency")[0] in (None, "")
        # When it is chosen from the list, the choice survives a reload
        page.select_option("[data-testid=baseline-select]", first)
        wait_ghost(page, first)
        assert f"baseline={first}" in page.url
        page.reload(wait_until="networkidle")
        wait_ghost(page, first)

        # And on a phone the page with its picker still does not scroll sideways
        page.set_viewport_size({"width": 375, "height": 812})
        page.wait_for_timeout(600)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

        # When B ends, the finished run is still compared with A
        demo.api("/runs/current/stop", "POST", auth=True)
        finish(demo, live)
        page.wait_for_function("() => document.querySelector('[data-role=run-sub]')"
                               "?.textContent.includes('aborted')", timeout=30_000)
        time.sleep(0.5)
        assert ghost_of(page, "accuracy-load")[1][0]["data"] == throughput[0]["data"]
        assert errors == []
    finally:
        context.close()


def test_an_unknown_baseline_is_named_on_the_page_and_nothing_is_drawn(
    own_demo: Demo, browser: Any, errors: PageErrors,
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = errors.watch(context.new_page())
    try:
        page.goto(f"{own_demo.url}/analytics?baseline=no-such-run", wait_until="networkidle")
        page.wait_for_function("() => document.querySelector('[data-testid=baseline-note]')"
                               "?.textContent.includes('no run')", timeout=20_000)
        note = page.text_content("[data-testid=baseline-note]")
        assert note == "baseline no-such-run: run_id: no run 'no-such-run'"
        assert ghost_of(page, "latency")[0] in (None, "")
        # the browser logs the 404 itself; nothing else went wrong
        assert [e for e in errors if "404" not in e] == []
    finally:
        context.close()
