"""The real site in Chromium against the emulated AWS: served from the site bucket with the
stack's config.json, it opens the emulated WebSocket API."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

from .system import AwsLocal


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def viewer_link(aws: AwsLocal) -> str:
    assert aws.operator is not None
    token = aws.sign_in(aws.operator)["IdToken"]
    request = urllib.request.Request(aws.urls.api + "/viewer-links", method="POST", data=b"{}",
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return str(json.loads(response.read())["url"])


def test_a_viewer_link_opens_the_live_presentation(aws_local: AwsLocal, page: Any) -> None:
    # Given a viewer link an operator shared
    link = viewer_link(aws_local)
    before = len(aws_local.gateway.connections)
    dialled: list[str] = []
    page.on("websocket", lambda socket: dialled.append(socket.url))
    # When someone opens it in Chromium
    page.goto(link)
    deadline = time.monotonic() + 15
    while len(aws_local.gateway.connections) <= before and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    # Then the page, configured by the stack's config.json, holds a WebSocket on the emulated
    # API that $connect accepted
    assert dialled and dialled[0].startswith(aws_local.urls.websocket), dialled
    assert len(aws_local.gateway.connections) > before
