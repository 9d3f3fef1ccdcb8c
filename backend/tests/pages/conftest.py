"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and the real app under gunicorn."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, sync_playwright

from ..conftest import PASSWORDS, add_admin
from ..monitoring.stack import RECORDING_RULES, backend_scrape_config, bare_prometheus
from ..servers import GUNICORN, serve, server_env

# The system browser (the chromium package), not one downloaded by `playwright install`.
CHROMIUM = "/usr/bin/chromium"
ADMIN = "admin"  # the user add_admin creates


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    username: str
    password: str


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright already passes --no-sandbox (chromium_sandbox=False), which Chromium needs when run as root.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def live_server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app under gunicorn on a loopback port, over a fresh SQLite file holding the admin user."""
    folder = tmp_path_factory.mktemp("live_server")
    database = folder / "mks.sqlite3"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    add_admin(database_url, folder / "setup", PASSWORDS[ADMIN])
    # The monitoring page reads a real Prometheus, which scrapes this server once it runs.
    with bare_prometheus(folder / "prometheus", "--web.enable-lifecycle") as prometheus_url:
        env = server_env(
            folder / "instance",
            database_url,
            workers="2",
            prometheus_url=prometheus_url,
            # Every test logs in from the same address over one session-long server: production limits would
            # throttle the suite, not the app under test.
            ratelimit_login_per_client="1000 per minute",
            ratelimit_login_per_username="1000 per minute",
        )
        # serve() yields once; resuming it after the session stops the server.
        for base_url in serve(GUNICORN, env):
            _scrape(prometheus_url, folder / "prometheus" / "bare-prometheus.yml", base_url)
            yield LiveServer(base_url, ADMIN, PASSWORDS[ADMIN])


def _scrape(prometheus_url: str, config: Path, base_url: str) -> None:
    """Have the Prometheus scrape the server every second, with the deployment's recording rules."""
    config.write_text(backend_scrape_config(base_url, RECORDING_RULES))
    requests.post(f"{prometheus_url}/-/reload", timeout=10).raise_for_status()
