"""Metrics under real gunicorn workers (multiprocess mode): the same exact values, summed across workers."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .conftest import make_settings
from .metrics_script import LOGIN_LIMIT, assert_script_metrics, knowledge_table_locked, parse, run_script
from .servers import GUNICORN, backend_env, serve

PASSWORD = "admin-pass-1"


@pytest.fixture
def gunicorn_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return backend_env(
        tmp_path / "instance",
        workers="3",
        env="testing",
        database_url=database_url,
        jwt_secret_key="gunicorn-test-secret-" + "x" * 32,
        argon2_time_cost="1",
        argon2_memory_cost_kib="64",
        database_lock_timeout_seconds="1",
        metrics_cache_seconds="0",
        # Limits must be shared by the workers: Redis, as in production with several workers.
        ratelimit_storage_uri="redis://127.0.0.1:6379/0",
        ratelimit_key_prefix=f"mks-test-{uuid.uuid4().hex}",
        ratelimit_login_per_username=LOGIN_LIMIT,
    )


def _create_admin(database_url: str, tmp_path: Path) -> None:
    from mks.app import create_app
    from mks.schemas import UserCreate
    from mks.services.users import create_user

    app = create_app(make_settings(database_url, tmp_path / "setup", metrics_enabled=False))
    with app.app_context():
        create_user(UserCreate(username="admin", display_name="admin", password=PASSWORD, role="admin"))  # type: ignore[arg-type]
    app.extensions["mks_db"].engine.dispose()


@pytest.fixture
def gunicorn(gunicorn_env: dict[str, str], database_url: str, tmp_path: Path) -> Iterator[str]:
    _create_admin(database_url, tmp_path)
    yield from serve(GUNICORN, gunicorn_env)


def _send(base: str) -> Any:
    session = requests.Session()
    session.headers["Connection"] = "close"  # spread requests over the workers

    def send(method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> tuple[int, Any]:
        response = session.request(method, base + path, json=body, headers=headers, timeout=30)
        payload = response.json() if response.headers.get("Content-Type", "").startswith("application/json") else None
        return response.status_code, payload

    return send


def test_scripted_sequence_sums_across_three_workers(gunicorn: str, database_url: str) -> None:
    run_script(_send(gunicorn), PASSWORD, lambda: knowledge_table_locked(database_url))
    assert_script_metrics(requests.get(f"{gunicorn}/metrics", timeout=30).text, health_probes=1)


def test_k_requests_are_counted_exactly(gunicorn: str, gunicorn_env: dict[str, str]) -> None:
    requests_sent = 300
    for _ in range(requests_sent):
        response = requests.get(f"{gunicorn}/health", headers={"Connection": "close"}, timeout=30)
        assert response.status_code == 200
    directory = Path(gunicorn_env["MKS_INSTANCE_PATH"]) / "prometheus-multiproc"
    pids = {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*.db")}
    assert len(pids) == 3, "every worker served part of the load"
    samples = parse(requests.get(f"{gunicorn}/metrics", timeout=30).text)
    health = (("endpoint", "/health"), ("method", "GET"), ("status", "200"))
    assert samples["mks_http_requests_total"][health] == requests_sent + 1  # + the start-up probe


def test_dead_worker_counts_survive_and_live_gauges_forget_it(gunicorn: str, gunicorn_env: dict[str, str]) -> None:
    for _ in range(30):
        requests.get(f"{gunicorn}/health", headers={"Connection": "close"}, timeout=30)
    directory = Path(gunicorn_env["MKS_INSTANCE_PATH"]) / "prometheus-multiproc"
    victim = int(sorted(directory.glob("counter_*.db"))[0].stem.rsplit("_", 1)[-1])
    os.kill(victim, signal.SIGKILL)
    for _ in range(100):  # bounded wait for gunicorn to replace the worker
        if not any(path.name.endswith(f"_{victim}.db") for path in directory.glob("gauge_live*")):
            break
        time.sleep(0.1)
    samples = parse(requests.get(f"{gunicorn}/metrics", timeout=30).text)
    health = (("endpoint", "/health"), ("method", "GET"), ("status", "200"))
    assert samples["mks_http_requests_total"][health] == 30 + 1  # + the start-up probe
    assert samples["mks_http_requests_in_progress"][()] == 1
    assert not list(directory.glob(f"gauge_live*_{victim}.db"))
