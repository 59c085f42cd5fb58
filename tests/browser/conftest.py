"""A real `stresslab demo` and Debian's Chromium, driven by Playwright, for the browser tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "dashboard_site"
DIST = SITE / "dist"
CHROMIUM = Path(os.environ.get("STRESSLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(os.environ.get("STRESSLAB_SCREENSHOTS", ROOT / "docs" / "screenshots"))
PAGES = ("presentation", "analytics", "agents", "admin")


@dataclass
class Demo:
    """A running `stresslab demo --no-autostart` on a free port, in its own folder."""

    url: str
    token: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def api(self, path: str, method: str = "GET", body: dict[str, Any] | None = None,
            auth: bool = False) -> Any:
        request = urllib.request.Request(
            f"{self.url}/api{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json",
                     **({"Authorization": f"Bearer {self.token}"} if auth else {})})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def wait_for_run_end(self, run_id: str, timeout_s: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                record = self.api(f"/runs/{run_id}")
            except urllib.error.HTTPError as error:
                if error.code != 404:  # 404: accepted, not stored yet
                    raise
                record = {}
            if record.get("summary") is not None:
                return record
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} did not finish within {timeout_s} s")


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: the browser tests need it "
                    "(Debian: apt-get install -y chromium). They are never skipped.",
                    pytrace=False)
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("the Python package playwright is missing: pip install -r "
                    "requirements-dev.txt (never `playwright install`: we drive Debian's "
                    "Chromium)", pytrace=False)


def _require_site() -> None:
    """The built site; built here when npm is available and the build is missing."""
    if (DIST / "presentation.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("dashboard_site/dist is missing and npm is not installed: run "
                    "`cd dashboard_site && npm ci && npm run build` first", pytrace=False)
    for step in (["ci"], ["run", "build"]):
        done = subprocess.run([npm, *step], cwd=SITE, capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm {' '.join(step)} failed in dashboard_site:\n{done.stderr[-2000:]}",
                        pytrace=False)


def start_demo(home: Path) -> Demo:
    """`stresslab demo --no-autostart` on a free port, its store in `home`."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stresslab", "demo", "--port", str(port), "--no-autostart",
         "--db", str(home / "runs.db")],
        cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    output: list[str] = []
    token = None
    deadline = time.monotonic() + 30
    while token is None:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"stresslab demo exited: {''.join(output)}")
        output.append(line)
        match = re.search(r"/admin#token=(\S+)", line)
        if match:
            token = match.group(1)
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no admin URL from stresslab demo: {''.join(output)}")
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            urllib.request.urlopen(f"{url}/config.json", timeout=1).close()
            break
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError(
                    f"stresslab demo did not answer: {''.join(output)}") from None
            time.sleep(0.1)
    return Demo(url, token, process, output)


def stop_demo(demo: Demo) -> None:
    process = demo.process
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    _require_chromium()
    _require_site()
    running = start_demo(tmp_path_factory.mktemp("demo"))
    yield running
    stop_demo(running)


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[Any]:
    """Module scope: Playwright's sync API runs an event loop in this thread until it stops,
    and the async tests collected after these need the thread free of one."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageErrors(list[str]):
    """Uncaught errors and console errors of the pages a test opened."""

    def watch(self, page: Any) -> Any:
        page.on("pageerror", lambda error: self.append(f"{page.url}: {error}"))
        page.on("console", lambda message: self.append(f"{page.url}: {message.text}")
                if message.type == "error" else None)
        return page


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, accept_downloads=True)
    yield ctx
    ctx.close()


@pytest.fixture
def errors() -> PageErrors:
    return PageErrors()
