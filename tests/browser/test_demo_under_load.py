"""`stresslab demo` with the four pages open in Chromium and both cores saturated by another
process: the investor demo (compressed to about a minute, at the demo's load scale) completes
and writes its outputs. Before the admin API had its own thread and the run's side work was
retried, this run died at the fault's clear with `failed: ` and an empty reason."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PAGES,
    ROOT,
    _require_chromium,
    _require_site,
)
from tests.conftest import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BUSY_LOOP = "while True:\n    pass\n"


@pytest.fixture
def cpu_hog() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two busy loops, one per core of this machine, killed at the end."""
    hogs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(2)]
    yield hogs
    for hog in hogs:
        hog.kill()
        hog.wait(timeout=10)


class DemoOutput:
    """The demo's output lines, read on a thread so the test never blocks on the pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                self._queue.put(line)
            self._queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, pattern: str, timeout_s: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        for line in self.lines:
            if found := re.search(pattern, line):
                return found
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no {pattern!r} from stresslab demo:\n{''.join(self.lines)}")


def test_the_investor_demo_completes_with_four_pages_open_and_both_cores_busy(
    tmp_path: Path, cpu_hog: list[subprocess.Popen[bytes]]
) -> None:
    _require_chromium()
    _require_site()
    from playwright.sync_api import sync_playwright

    # Given both cores saturated by another program, and the demo started as a user does
    assert all(hog.poll() is None for hog in cpu_hog)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "demo", "--port", str(port), "--time-scale", "0.1",
         "--load-scale", "0.2", "--db", str(tmp_path / "runs.db")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)})
    output = DemoOutput(process)
    try:
        token = output.wait_for(r"/admin[?#]token=(\S+)", 60).group(1)
        run_id = output.wait_for(r"stresslab: run (investor-demo-\S+): investor-demo", 60)[1]
        url = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                 args=CHROMIUM_ARGS)
            try:
                # When the four pages are open for the whole run
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                for page in PAGES:
                    tab = context.new_page()
                    suffix = f"#token={token}" if page == "admin" else ""
                    tab.goto(f"{url}/{page}{suffix}", timeout=60_000)
                ended = output.wait_for(rf"stresslab: run {re.escape(run_id)} (.*)$", 300)
            finally:
                browser.close()
        # Then the run completed (not failed), and said so in one line
        assert ended[1].startswith("completed"), ended[0]
        # And its outputs are written
        results = tmp_path / "results" / run_id
        summary = json.loads((results / "summary.json").read_text())
        assert summary["run_id"] == run_id and summary["status"] == "completed"
        assert (results / "report.html").is_file()
        # (an overloaded machine drops arrivals it cannot send; they are counted, not lost)
        counts = summary["counts"]
        assert counts["scheduled"] == counts["sent"] + counts["dropped"] and counts["sent"] > 0
        assert counts["sent"] == counts["ok"] + counts["errors"] + counts["timeouts"]
        # And the store has it too
        with urllib.request.urlopen(f"{url}/api/runs/{run_id}", timeout=20) as response:
            assert json.loads(response.read())["summary"]["status"] == "completed"
        assert "Traceback" not in "".join(output.lines)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in "".join(output.lines)
    with pytest.raises((urllib.error.URLError, OSError)):
        urllib.request.urlopen(f"{url}/config.json", timeout=2)
