"""Metrics under real gunicorn workers (multiprocess mode): the same exact values, summed across workers."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from .conftest import add_admin
from .metrics_script import LOGIN_LIMIT, assert_script_metrics, knowledge_table_locked, parse, run_script
from .servers import GUNICORN, serve, serve_process, server_env, shared_limits

PASSWORD = "admin-pass-1"


@pytest.fixture
def gunicorn_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    # Limits must be shared by the workers: Redis, as in production with several workers.
    return server_env(
        tmp_path / "instance",
        database_url,
        workers="3",
        database_lock_timeout_seconds="1",
        metrics_cache_seconds="0",
        **shared_limits(),
        ratelimit_login_per_username=LOGIN_LIMIT,
    )


@pytest.fixture
def gunicorn(gunicorn_env: dict[str, str], database_url: str, tmp_path: Path) -> Iterator[str]:
    add_admin(database_url, tmp_path / "setup", PASSWORD)
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


def _replace_worker(master: int, victim: int) -> None:
    """SIGTERM one worker and wait (bounded) until gunicorn has reaped it and forked a replacement."""
    workers = len(psutil.Process(master).children())
    os.kill(victim, signal.SIGTERM)
    for _ in range(300):
        children = {child.pid for child in psutil.Process(master).children()}
        if victim not in children and len(children) == workers:
            return
        time.sleep(0.1)
    raise AssertionError(f"worker {victim} was not replaced")


def test_restarted_workers_leave_one_archive_and_exact_counts(
    gunicorn_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    add_admin(database_url, tmp_path / "setup", PASSWORD)
    directory = Path(gunicorn_env["MKS_INSTANCE_PATH"]) / "prometheus-multiproc"
    health = (("endpoint", "/health"), ("method", "GET"), ("status", "200"))
    sent, victims, seen = 0, [], []
    with closing(serve_process(GUNICORN, gunicorn_env)) as running:
        base, master = next(running)
        done = threading.Event()

        def scrape_meanwhile() -> None:
            while not done.is_set():
                seen.append(parse(requests.get(f"{base}/metrics", timeout=30).text)["mks_http_requests_total"][health])

        scraper = threading.Thread(target=scrape_meanwhile)
        scraper.start()
        for _ in range(4):
            for _ in range(20):
                assert requests.get(f"{base}/health", headers={"Connection": "close"}, timeout=30).status_code == 200
                sent += 1
            victims.append(int(sorted(directory.glob("counter_[0-9]*.db"))[0].stem.rsplit("_", 1)[-1]))
            _replace_worker(master.pid, victims[-1])
        done.set()
        scraper.join()
        samples = parse(requests.get(f"{base}/metrics", timeout=30).text)
        live = {child.pid for child in psutil.Process(master.pid).children()}
        names = {path.name for path in directory.iterdir()}
    assert samples["mks_http_requests_total"][health] == sent + 1  # + the start-up probe
    # Scrapes racing the archiving never saw a dead worker's counts twice or not at all.
    assert seen and seen == sorted(seen) and seen[-1] <= sent + 1
    archives = {"counter_archive.db", "histogram_archive.db", "archive.lock"}
    assert archives <= names
    assert {name for name in names - archives if int(name[:-3].rsplit("_", 1)[-1]) not in live} == set()
    assert not any(name.endswith(f"_{victim}.db") for victim in victims for name in names)
