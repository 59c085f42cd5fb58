"""A hostile page in real Chromium, served from another loopback origin, tries to put a fault
into the reference service with the only cross-origin POST a page can send unasked: a
`no-cors` fetch with a text/plain body. The service's fault list stays empty."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, _require_chromium

pytestmark = pytest.mark.timeout(120)

HOSTILE_PAGE = """<!doctype html><title>cute cats</title><script>
const fault = JSON.stringify({type: "throttle", intensity: 1, duration_s: 600});
const degrade = JSON.stringify({level: "CRITICAL"});
async function attack(bases) {
  const results = [];
  for (const base of bases) {
    for (const [path, body] of [["/admin/faults", fault], ["/admin/degradation", degrade]]) {
      for (const type of ["text/plain", "application/json"]) {
        try {
          const r = await fetch(base + path, {mode: "no-cors", method: "POST", body,
                                              headers: {"Content-Type": type}});
          results.push(base + path + " " + r.type);
        } catch (e) { results.push(base + path + " error " + e); }
      }
    }
  }
  return results;
}
</script>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = HOSTILE_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def hostile_origin() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # "localhost" and 127.0.0.1 are different origins, and so is every other port
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def reference() -> Iterator[dict[str, str]]:
    """`python -m reference_service` on free ports, as a user starts it."""
    process = subprocess.Popen([sys.executable, "-m", "reference_service", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    listening = process.stdout.readline()
    urls = re.findall(r"http://127\.0\.0\.1:\d+", listening)
    assert urls, listening
    token_line = process.stdout.readline() if len(urls) > 1 else ""
    token = token_line.rsplit(" ", 1)[-1].strip()
    yield {"url": urls[0], "admin_url": urls[-1], "token": token}
    process.terminate()
    process.wait(timeout=30)


def admin_get(reference: dict[str, str], path: str) -> Any:
    headers = {"Authorization": f"Bearer {reference['token']}"} if reference["token"] else {}
    request = urllib.request.Request(reference["admin_url"] + path, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_hostile_page_cannot_inject_a_fault_with_a_no_cors_post(
    hostile_origin: str, reference: dict[str, str]
) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            # Given a page from another origin, open in the user's browser
            page.goto(f"{hostile_origin}/")
            # When it POSTs a fault and a degradation level to every port of the service
            results = page.evaluate("bases => attack(bases)",
                                    [reference["url"], reference["admin_url"]])
        finally:
            browser.close()
    # Then the requests went out and came back opaque (the browser sent them)...
    assert len(results) == 8 and all(r.endswith(" opaque") for r in results), results
    # ...and the service took none of them: no fault, level unchanged
    assert admin_get(reference, "/admin/faults") == {"faults": []}
    assert admin_get(reference, "/admin/degradation") == {"level": "NONE"}
