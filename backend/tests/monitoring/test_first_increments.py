"""The first error after start-up reaches the alerts: real gunicorn workers, a real Prometheus with the shipped rules.

A counter series born at its first increment starts at 1, and rate() sees no change: before the
series were exported at 0 (Metrics.start_known_series), one database error never fired
MKSDatabaseErrors and the first failed logins were lost to every rate.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..servers import GUNICORN, backend_env, serve
from .stack import (
    ALERT_RULES,
    RECORDING_RULES,
    api,
    backend_scrape_config,
    bare_prometheus,
    locked_writes,
    require_prometheus,
    wait_for,
    wait_for_target,
)


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("first-increments")


@pytest.fixture(scope="module")
def backend(instance: Path) -> Iterator[str]:
    """The backend under gunicorn (2 workers, multiprocess metrics) on SQLite, a write waiting 1 s at most."""
    env = backend_env(
        instance / "instance",
        workers="2",
        env="development",
        database_lock_timeout_seconds="1",
        ratelimit_key_prefix=f"mks-first-{uuid.uuid4().hex}",
    )
    yield from serve(GUNICORN, env)


@pytest.fixture(scope="module")
def prometheus(backend: str, instance: Path) -> Iterator[str]:
    """A Prometheus scraping the backend and evaluating the shipped rules every second."""
    require_prometheus()
    config = backend_scrape_config(backend, RECORDING_RULES, ALERT_RULES)
    with bare_prometheus(instance / "prometheus", config_text=config) as url:
        wait_for_target(url, "up")
        time.sleep(2)  # a scrape of the zeros, and an evaluation on them
        yield url


def alert_states(prometheus: str, name: str) -> list[str]:
    return [alert["state"] for alert in api(prometheus, "alerts")["alerts"] if alert["labels"]["alertname"] == name]


def test_one_database_error_makes_the_alert_pending(backend: str, prometheus: str, instance: Path) -> None:
    assert alert_states(prometheus, "MKSDatabaseErrors") == []
    assert locked_writes(backend, instance / "instance", 1) == [503]

    wait_for("MKSDatabaseErrors never went pending", lambda: alert_states(prometheus, "MKSDatabaseErrors"))
    assert alert_states(prometheus, "MKSDatabaseErrors") == ["pending"]  # `for: 2m` before it fires
    errors = api(prometheus, "query", query='sum(mks_errors_total{type="db_error"})')["result"]
    assert float(errors[0]["value"][1]) == 1


def test_the_first_failed_logins_are_a_rate(backend: str, prometheus: str) -> None:
    for _ in range(5):
        refused = requests.post(
            f"{backend}/api/v1/auth/login", json={"username": "admin", "password": "wrong"}, timeout=10
        )
        assert refused.status_code == 401

    def counted() -> list[float]:
        found = api(prometheus, "query", query='mks_auth_attempts_total{status="failure"}[1m]')["result"]
        return [float(value) for _at, value in found[0]["values"]]

    wait_for("the five failures were never scraped", lambda: counted()[-1] == 5)
    values = counted()
    assert values[0] == 0 and values[-1] == 5  # exported at 0 before the first failure: rate() sees all five

    def rate() -> float:
        return float(api(prometheus, "query", query="instance:mks_auth_failures:rate5m")["result"][0]["value"][1])

    wait_for("the recording rule never saw the failures", lambda: rate() > 0)
