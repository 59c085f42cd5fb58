"""Dashboard update latency: from the end of a one-second window to the browser having drawn it.

    .venv/bin/python bench/dashboard_latency.py [--scenario smoke | --tps 5000 --duration 30s]
                                                [--time-scale 1] [--load-scale 1]
                                                [--url URL --token TOKEN]

Starts `stresslab demo --no-autostart` on a free port (or uses --url/--token), opens the four
pages in Debian's Chromium (/usr/bin/chromium) through Playwright, starts one run from the
control API (the scenario, or with --tps/--duration the scenario at that constant rate, as
`stresslab run peak-load --tps 5000 --duration 30s` does) and waits for its end. Every page
logs, for each tick it receives, the wall clock when the frame arrived and when the page had
painted it (two animation frames after the DOM and charts were updated), and the frame's size.
A window ends at the tick's `window_end_epoch` (the local runtime sends it, and
`published_epoch`, when it sent the tick); otherwise at the run's `started_at` + second + 1 s.
Browser and server share this machine's clock. Prints a Markdown table per page: where the
time went (server: window end → sent; transit: sent → frame arrived; page: arrived → handled),
painted p50 / p95 / max beside the goal (p95 < 500 ms), and the machine and load average.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from machine import describe_machine, free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("STRESSLAB_CHROMIUM", "/usr/bin/chromium"))
PAGES = ("presentation", "analytics", "agents", "admin")
GOAL_P95_MS = 500.0


def api(url: str, path: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{url}/api{path}", method="POST" if body is not None else "GET",
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json",
                 **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def start_demo(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "demo", "--port", str(port), "--no-autostart",
         "--db", str(home / "runs.db")], cwd=home, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"/admin#token=(\S+)", line)
        if match:
            return process, f"http://127.0.0.1:{port}", match.group(1)
    raise SystemExit("stresslab demo exited before printing its URLs")


def finished(url: str, run_id: str) -> bool:
    try:
        return api(url, f"/runs/{run_id}").get("summary") is not None
    except urllib.error.HTTPError as error:
        if error.code == 404:  # not recorded yet: the run is still starting
            return False
        raise


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def measure(url: str, token: str, args: argparse.Namespace) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        pages = {}
        for name in args.pages:
            # one context each, so no page is a background tab
            context = browser.new_context(viewport={"width": 1920, "height": 1080})
            page = context.new_page()
            page.goto(f"{url}/{name}")
            page.wait_for_selector('[data-testid="connection"][data-status="open"]',
                                   state="attached", timeout=15_000)
            pages[name] = page
        request: dict[str, Any] = {"scenario": args.scenario, "time_scale": args.time_scale,
                                   "load_scale": args.load_scale}
        if args.tps is not None:
            request |= {"tps": args.tps, "duration": args.duration}
        started = api(url, "/runs", token, request)
        load_before = os.getloadavg()
        run_id = started["run_id"]
        deadline = time.monotonic() + started["duration_s"] + 240  # a busy machine starts late
        while not finished(url, run_id):
            if time.monotonic() > deadline:
                raise SystemExit(f"run {run_id} did not finish")
            time.sleep(0.5)
        load_after = os.getloadavg()
        time.sleep(1.0)
        rows = []
        for name, page in pages.items():
            state = page.evaluate("""() => ({
                renders: window.__stresslab.renders,
                started_at: window.__stresslab.state().run?.started_at ?? null,
                visibility: document.visibilityState })""")
            rows.append((name, latencies(state, run_id, args.planned_only,
                                         started["duration_s"])))
        version = browser.version
        browser.close()
    rate = f"{args.tps:g} TPS for {args.duration}" if args.tps is not None else args.scenario
    print(f"Dashboard update latency: end of a 1 s window → painted in the browser "
          f"({rate}, time ×{args.time_scale}, load ×{args.load_scale}, "
          f"{len(pages)} page(s) open at once at 1920x1080, run {run_id})\n")
    print(report(rows))
    print(f"\nMachine: {describe_machine('Chromium ' + version)}")
    print(f"Load average (1 min) at the run's start {load_before[0]:.2f}, "
          f"at its end {load_after[0]:.2f}.")
    print("Seconds past the planned duration (the drain, sent once the run ends) are "
          + ("left out." if args.planned_only else "included (--all-seconds)."))


def report(rows: list[tuple[str, PageTimes]]) -> str:
    """Per page p95 of each leg, and painted p50 / p95 / max beside the goal."""
    lines = [f"| page | ticks | tick size p50 | server p95 | transit p95 | page p95 "
             f"| painted p50 | painted p95 | painted max | goal p95 < {GOAL_P95_MS:.0f} ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    everything: list[float] = []
    for name, times in rows:
        painted = times.painted
        everything += painted
        if not painted:
            lines.append(f"| {name} | 0 | – | – | – | – | – | – | – | no ticks |")
            continue
        lines.append(
            f"| {name} | {len(painted)} | {percentile(times.chars, 50) / 1024:.1f} KiB | "
            f"{_ms(times.server, 95)} | {_ms(times.transit, 95)} | {_ms(times.script, 95)} | "
            f"{_ms(painted, 50)} | {_ms(painted, 95)} | {max(painted):.0f} ms | "
            f"{_verdict(painted)} |")
    if everything:
        lines.append(f"| all pages | {len(everything)} | | | | | {_ms(everything, 50)} | "
                     f"{_ms(everything, 95)} | {max(everything):.0f} ms | "
                     f"{_verdict(everything)} |")
    return "\n".join(lines)


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q):.0f} ms" if values else "–"


def _verdict(painted: list[float]) -> str:
    return "met" if percentile(painted, 95) < GOAL_P95_MS else "not met"


@dataclass
class PageTimes:
    """One page's ticks, in ms from the window's end or spent in a leg; chars per frame."""

    painted: list[float] = field(default_factory=list)
    server: list[float] = field(default_factory=list)  # window end → the runtime sent it
    transit: list[float] = field(default_factory=list)  # sent → the frame arrived
    script: list[float] = field(default_factory=list)  # arrived → parsed, folded, drawn
    chars: list[float] = field(default_factory=list)


def latencies(state: dict[str, Any], run_id: str, planned_only: bool, duration_s: float,
              ) -> PageTimes:
    started = state["started_at"]
    start_ms = (datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() * 1000
                if started else None)
    times = PageTimes()
    for record in state["renders"]:
        if record["run_id"] != run_id:
            continue
        if planned_only and record["second"] + 1 > duration_s:
            continue
        if record["window_end_epoch"] is not None:
            end_ms = record["window_end_epoch"] * 1000
        elif start_ms is not None:
            end_ms = start_ms + (record["second"] + 1) * 1000
        else:
            continue
        times.painted.append(record["rendered_ms"] - end_ms)
        times.script.append(record.get("script_ms") or 0.0)
        times.chars.append(record.get("chars") or 0)
        if record.get("published_epoch") is not None:
            published_ms = record["published_epoch"] * 1000
            times.server.append(published_ms - end_ms)
            times.transit.append(record["received_ms"] - published_ms)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario",
                        help="default smoke; peak-load (its workers, criteria) with --tps")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--load-scale", type=float, default=1.0)
    parser.add_argument("--tps", type=float,
                        help="a constant rate instead of the scenario's load (with --duration)")
    parser.add_argument("--duration", help="how long at --tps, e.g. 30s")
    parser.add_argument("--url", help="a running stresslab demo (else one is started)")
    parser.add_argument("--token", help="its admin token (with --url)")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=list(PAGES),
                        help="pages open at the same time (default: all four)")
    parser.add_argument("--all-seconds", dest="planned_only", action="store_false",
                        help="also count the drain seconds sent after the run's end")
    args = parser.parse_args()
    if (args.tps is None) != (args.duration is None):
        parser.error("--tps and --duration go together")
    args.scenario = args.scenario or ("smoke" if args.tps is None else "peak-load")
    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium is missing at {CHROMIUM} (apt-get install -y chromium)")
    if not args.url and not (ROOT / "dashboard_site" / "dist" / "index.html").exists():
        raise SystemExit("dashboard_site/dist is missing: build the pages first (make site)")
    if args.url:
        if not args.token:
            raise SystemExit("--url needs --token")
        measure(args.url.rstrip("/"), args.token, args)
        return
    with tempfile.TemporaryDirectory() as home:
        process, url, token = start_demo(Path(home))
        try:
            measure(url, token, args)
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
