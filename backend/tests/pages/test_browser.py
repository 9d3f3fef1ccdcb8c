"""The browser-test chain end to end: Chromium, through Playwright, reads a page of the real server."""

from __future__ import annotations

import json

from playwright.sync_api import Page

from .conftest import LiveServer


def test_browser_reads_health_from_the_live_server(live_server: LiveServer, page: Page) -> None:
    response = page.goto(f"{live_server.base_url}/health")
    assert response is not None and response.status == 200
    assert json.loads(page.inner_text("body"))["status"] == "ok"
