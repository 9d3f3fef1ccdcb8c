"""Failures that must stay bounded and quiet: a database that never answers, secrets that must never be logged."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from mks.app import create_app
from mks.config import Settings
from mks.context import service_context
from mks.schemas.users import UserCreate
from mks.services.users import create_user

from .conftest import PASSWORDS, database_outage, make_settings, postgres_database
from .metrics_script import knowledge_table_locked
from .servers import GUNICORN, free_port, serve_process, server_env
from .tools import require_tools, unavailable

T = TypeVar("T")


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word (a hung database server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_hung_database_gives_503_within_the_connect_timeout(black_hole: int, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://mks@127.0.0.1:{black_hole}/mks"
    app = create_app(make_settings(url, tmp_path, database_connect_timeout=1))
    client = app.test_client()
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": "x"})
    assert (response.status_code, response.json["error"]["code"]) == (503, "database_unavailable")
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200
    app.extensions["mks_db"].engine.dispose()


def test_secrets_never_reach_the_logs(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    token = login.json["access_token"]
    client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong-password-123"})
    client.get("/api/v1/knowledge", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/v1/knowledge", headers={"Authorization": "Bearer forged.token.value"})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    secret = client.application.extensions["mks_token_keys"].secret
    for value in (PASSWORDS["admin"], "wrong-password-123", token, secret):
        assert value not in logged


def eventually(probe: Callable[[], T | None], attempts: int = 150) -> T:
    """The first non-None result of ``probe``, tried every 0.2 s a bounded number of times."""
    for _ in range(attempts):
        result = probe()
        if result is not None:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{probe} never succeeded")


def gunicorn_env(instance: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a real gunicorn on the given database that gives up connecting after 1 s."""
    return server_env(instance, database_url, **({"database_connect_timeout": "1"} | settings))


def workers_of(master: subprocess.Popen[bytes]) -> set[int]:
    """Process ids of the gunicorn master's workers."""
    return {child.pid for child in psutil.Process(master.pid).children()}


@pytest.fixture
def postgres_with_admin(postgres_template: str, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """A fresh PostgreSQL database with the admin user, and an app bound to it (to take the database away)."""
    with postgres_database(postgres_template) as url:
        handle = create_app(make_settings(url, tmp_path / "handle"))
        with handle.app_context():
            create_user(
                service_context(),
                UserCreate(username="admin", display_name="admin", password=PASSWORDS["admin"], role="admin"),
            )  # type: ignore[arg-type]
        yield url, handle
        handle.extensions["mks_db"].engine.dispose()


@contextmanager
def running(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real gunicorn with the repo's config until the block ends: its base URL and master process."""
    with closing(serve_process(GUNICORN, env)) as server:
        yield next(server)


def test_workers_restarted_during_a_database_outage_boot_answer_503_and_recover(
    postgres_with_admin: tuple[str, Flask], tmp_path: Path
) -> None:
    url, handle = postgres_with_admin
    with running(gunicorn_env(tmp_path / "instance", url, workers="2")) as (base, master):
        login = requests.post(
            f"{base}/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]}, timeout=10
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def me() -> requests.Response:
            return requests.get(f"{base}/api/v1/auth/me", headers=headers, timeout=10)

        with database_outage(handle):
            before = workers_of(master)
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            # Every worker serving from now on was booted while the database was away.
            eventually(lambda: True if len(workers_of(master) - before) == 2 else None)
            answers = [me() for _ in range(6)]
            assert {(a.status_code, a.json()["error"]["code"]) for a in answers} == {(503, "database_unavailable")}
            assert {requests.get(f"{base}/health", timeout=10).status_code for _ in range(6)} == {200}
            assert master.poll() is None
        eventually(lambda: True if me().status_code == 200 else None)
        assert {(a.status_code, a.json()["username"]) for a in [me() for _ in range(6)]} == {(200, "admin")}


def test_gunicorn_refuses_to_start_when_the_database_stays_unreachable(postgres_template: str, tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{postgres_template}_missing"
    env = gunicorn_env(tmp_path / "instance", url, workers="1", startup_wait_seconds="1")
    result = subprocess.run(
        GUNICORN, cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, timeout=120
    )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 1
    assert "Error: データベースに 1 秒間接続できませんでした" in output
    assert "Booting worker" not in output


def storage_errors(app: Flask) -> float | None:
    """The app's mks_rate_limit_storage_errors_total."""
    return app.extensions["mks_scrape_registry"].get_sample_value("mks_rate_limit_storage_errors_total")  # type: ignore[no-any-return]


def app_with_admin(settings: Settings) -> Flask:
    """A prepared app on the settings, with the admin user."""
    app = create_app(settings)
    with app.app_context():
        create_user(
            service_context(),
            UserCreate(username="admin", display_name="admin", password=PASSWORDS["admin"], role="admin"),
        )  # type: ignore[arg-type]
    return app


def log_in(client: FlaskClient) -> dict[str, str]:
    """The admin's Authorization header, asserting the login's answer."""
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    assert login.status_code == 200, login.json
    return {"Authorization": f"Bearer {login.json['access_token']}"}


def test_redis_down_lets_api_calls_through_counts_them_and_ready_says_degraded(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    app = app_with_admin(make_settings(database_url, tmp_path, ratelimit_storage_uri=nobody_listens))
    client = app.test_client()
    caplog.set_level(logging.WARNING, logger="mks.ratelimit")
    headers = log_in(client)
    me = client.get("/api/v1/auth/me", headers=headers)
    assert (me.status_code, me.json["username"], me.headers.get("X-RateLimit-Limit")) == (200, "admin", None)
    assert storage_errors(app) == 2
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.name == "mks.ratelimit"] == [
        "rate-limit storage unavailable, request let through without limits"
    ] * 2
    ready = client.get("/ready")
    assert (ready.status_code, ready.json) == (
        200,
        {
            "status": "degraded",
            "database": app.extensions["mks_db"].dialect,
            "dependencies": {"database": "ok", "database_writes": "ok", "rate_limit_storage": "unavailable"},
        },
    )
    assert client.get("/health").status_code == 200
    assert storage_errors(app) == 2  # probes are not rate-limited, so they never wait on the storage
    app.extensions["mks_db"].engine.dispose()


@contextmanager
def redis_server(port: int) -> Iterator[None]:
    """A real redis-server on the loopback port, without persistence, until the block ends."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: True if _answers_ping(port) else None)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16) == b"+PONG\r\n"
    except OSError:
        return False


def test_rate_limits_come_back_with_redis(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(database_url, tmp_path, ratelimit_storage_uri=f"redis://127.0.0.1:{port}/0")
    with redis_server(port):
        app = app_with_admin(settings)
        client = app.test_client()
        headers = log_in(client)
        assert client.get("/api/v1/auth/me", headers=headers).headers["X-RateLimit-Limit"] == "10000"
    down = client.get("/api/v1/auth/me", headers=headers)
    assert (down.status_code, down.headers.get("X-RateLimit-Limit")) == (200, None)
    assert client.get("/ready").json["dependencies"]["rate_limit_storage"] == "unavailable"
    assert storage_errors(app) == 1
    with redis_server(port):
        back = client.get("/api/v1/auth/me", headers=headers)
        assert (back.status_code, back.headers["X-RateLimit-Limit"]) == (200, "10000")
        assert client.get("/ready").json["status"] == "ok"
    assert storage_errors(app) == 1
    app.extensions["mks_db"].engine.dispose()


def test_ready_lists_each_dependency_when_the_database_is_down(app: Flask, client: FlaskClient) -> None:
    assert client.get("/ready").json == {
        "status": "ok",
        "database": app.extensions["mks_db"].dialect,
        "dependencies": {"database": "ok", "database_writes": "ok", "rate_limit_storage": "ok"},
    }
    with database_outage(app):
        ready = client.get("/ready")
    assert (ready.status_code, ready.json["error"]["code"], ready.json["error"]["details"]) == (
        503,
        "database_unavailable",
        [
            {"dependency": "database", "status": "unavailable"},
            {"dependency": "database_writes", "status": "unavailable"},
            {"dependency": "rate_limit_storage", "status": "ok"},
        ],
    )


def test_ready_answers_503_while_a_held_lock_blocks_every_write(
    app: Flask, client: FlaskClient, database_url: str
) -> None:
    """A table lock held elsewhere: reads still work, but every write would fail after its lock timeout."""
    with knowledge_table_locked(database_url):
        ready = client.get("/ready")
    assert (ready.status_code, ready.json["error"]["message"], ready.json["error"]["details"]) == (
        503,
        "データベースがロックされていて、書き込みを始められません。",
        [
            {"dependency": "database", "status": "ok"},
            {"dependency": "database_writes", "status": "unavailable"},
            {"dependency": "rate_limit_storage", "status": "ok"},
        ],
    )
    assert client.get("/ready").status_code == 200  # the probe left no lock or transaction behind


class PostgresProxy:
    """A loopback TCP proxy to the test PostgreSQL on a port of its own, which can be made a black hole.

    ``black_hole()`` drops every packet to and from the proxy's port (iptables), as a firewall or a
    dead network path does: nothing is refused, nothing is acknowledged, connections just hang.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.rules: list[list[str]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client = self.listener.accept()[0]
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:  # the listener was closed
                return
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def black_hole(self) -> None:
        """Drop every packet to and from the proxy's port from now on."""
        port = str(self.port)
        for rule in (
            ["INPUT", "-i", "lo", "-p", "tcp", "--dport", port],
            ["OUTPUT", "-o", "lo", "-p", "tcp", "--sport", port],
        ):
            subprocess.run(["iptables", "-I", *rule, "-j", "DROP"], check=True, capture_output=True)
            self.rules.append(rule)

    def close(self) -> None:
        """Remove the rules, stop accepting and close every forwarded connection."""
        for rule in self.rules:
            subprocess.run(["iptables", "-D", *rule, "-j", "DROP"], check=True, capture_output=True)
        self.listener.close()
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def hung_postgres(postgres_with_admin: tuple[str, Flask]) -> Iterator[tuple[str, PostgresProxy]]:
    """The admin's PostgreSQL database reached through a proxy that the test can black-hole."""
    require_tools("iptables", packages="iptables")
    if os.geteuid() != 0:
        unavailable("dropping packets with iptables needs root")
    url, _handle = postgres_with_admin
    parsed = make_url(url)
    proxy = PostgresProxy(parsed.port or 5432)
    try:
        yield parsed.set(port=proxy.port).render_as_string(hide_password=False), proxy
    finally:
        proxy.close()


# Small bounds, so a hung connection is given up after a few seconds.
HUNG_BOUNDS = {
    "database_connect_timeout": "2",
    "database_keepalives_idle_seconds": "1",
    "database_keepalives_interval_seconds": "1",
    "database_keepalives_count": "2",
    "database_tcp_user_timeout_seconds": "2",
}


def in_background(call: Callable[[], T]) -> tuple[threading.Thread, list[T]]:
    """Run the call in a thread; its result lands in the list."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    return thread, results


def test_a_database_hung_mid_use_answers_503_within_the_bounds(
    hung_postgres: tuple[str, PostgresProxy], tmp_path: Path
) -> None:
    url, proxy = hung_postgres
    bounds = {name: float(value) for name, value in HUNG_BOUNDS.items()}
    app = create_app(make_settings(url, tmp_path, **bounds))
    client = app.test_client()
    headers = log_in(client)  # a pooled connection is now open through the proxy
    proxy.black_hole()
    request, answers = in_background(lambda: client.get("/api/v1/auth/me", headers=headers))
    request.join(timeout=120)  # a safety net only: the bounds above end the wait long before
    assert not request.is_alive(), "the request still waits on the hung database"
    assert (answers[0].status_code, answers[0].json["error"]["code"]) == (503, "database_unavailable")
    registry = app.extensions["mks_scrape_registry"]
    assert registry.get_sample_value("mks_errors_total", {"type": "db_error", "endpoint": "/api/v1/auth/me"}) == 1
    assert client.get("/health").status_code == 200
    app.extensions["mks_db"].engine.dispose()


def test_gunicorn_health_answers_while_a_request_waits_on_a_hung_database(
    hung_postgres: tuple[str, PostgresProxy], tmp_path: Path
) -> None:
    url, proxy = hung_postgres
    # Longer bounds than HUNG_BOUNDS: the request must still be waiting while /metrics and /health answer.
    slower = {"database_connect_timeout": "8", "database_tcp_user_timeout_seconds": "8"}
    # The database-derived gauges are counted before the hang and then served from the cache, so that
    # the scrapes below wait on nothing (uncached, each would wait out the hung database too).
    cached = {"metrics_cache_seconds": "600"}
    env = gunicorn_env(tmp_path / "instance", url, workers="1", **(HUNG_BOUNDS | slower | cached))
    with running(env) as (base, _master):
        login = requests.post(
            f"{base}/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]}, timeout=10
        )
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert in_progress(base) == 1  # this scrape alone; it fills the cache
        proxy.black_hole()
        request, answers = in_background(lambda: requests.get(f"{base}/api/v1/auth/me", headers=headers, timeout=120))
        # The one worker is busy with that request: /metrics and /health are served beside it.
        eventually(lambda: True if in_progress(base) == 2 else None, attempts=30)  # the request and this scrape
        health = requests.get(f"{base}/health", timeout=30)
        assert (health.status_code, request.is_alive()) == (200, True)
        request.join(timeout=120)
        assert (answers[0].status_code, answers[0].json()["error"]["code"]) == (503, "database_unavailable")


def in_progress(base: str) -> float:
    """mks_http_requests_in_progress as scraped from the server."""
    text = requests.get(f"{base}/metrics", timeout=30).text
    return next(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "mks_http_requests_in_progress"
    )


def test_every_pooled_connection_busy_answers_503_after_the_pool_timeout(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, database_pool_size=2, database_pool_timeout_seconds=0.5)
    app = app_with_admin(settings)
    client = app.test_client()
    headers = log_in(client)
    engine = app.extensions["mks_db"].engine
    with engine.connect(), engine.connect():  # both connections of the pool held, as by hung requests
        busy = client.get("/api/v1/auth/me", headers=headers)
        assert (busy.status_code, busy.json["error"]["code"]) == (503, "database_unavailable")
        assert client.get("/health").status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    engine.dispose()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (root only; CI runs as root)."""
    if os.geteuid() != 0:
        unavailable("mounting a small tmpfs to fill it needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True, capture_output=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "--lazy", str(disk)], check=True, capture_output=True)  # even if a file is open


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file:  # unbuffered: closing has nothing left to write
        for _ in range(4096):  # bounded: far more 4 KiB blocks than a 4 MiB disk holds
            try:
                file.write(b"\0" * 4096)
                file.flush()
            except OSError:
                return filler
    raise AssertionError("the disk never filled up")


def test_a_full_disk_answers_503_storage_full_and_writes_nothing(
    small_disk: Path, sqlite_template: Path, tmp_path: Path
) -> None:
    database = small_disk / "mks.sqlite3"
    shutil.copyfile(sqlite_template, database)
    app = app_with_admin(make_settings(f"sqlite:///{database}", small_disk))
    client = app.test_client()
    headers = log_in(client)
    entry = {"title": "型枠の転用回数", "content": "本文" * 2000, "category": "品質"}
    filler = fill(small_disk)
    full = client.post("/api/v1/knowledge", json=entry, headers=headers)
    assert (full.status_code, full.json["error"]["code"]) == (503, "storage_full")
    registry = app.extensions["mks_scrape_registry"]
    assert registry.get_sample_value("mks_system_disk_usage_percent") == 100.0
    assert registry.get_sample_value("mks_errors_total", {"type": "db_error", "endpoint": "/api/v1/knowledge"}) == 1
    filler.unlink()
    assert client.get("/api/v1/knowledge", headers=headers).json["total"] == 0  # nothing half-written
    created = client.post("/api/v1/knowledge", json=entry, headers=headers)
    assert (created.status_code, created.json.get("title")) == (201, "型枠の転用回数"), created.json
    assert client.get("/api/v1/knowledge", headers=headers).json["total"] == 1
    app.extensions["mks_db"].engine.dispose()


def test_lockout_still_stops_password_guessing_while_redis_is_down(database_url: str, tmp_path: Path) -> None:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    app = app_with_admin(make_settings(database_url, tmp_path, ratelimit_storage_uri=nobody_listens))
    client = app.test_client()
    guesses = [
        client.post("/api/v1/auth/login", json={"username": "admin", "password": f"guess-{n}"}) for n in range(5)
    ]
    assert {g.status_code for g in guesses} == {401}
    right = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    assert (right.status_code, right.json["error"]["code"]) == (401, "invalid_credentials")
    assert storage_errors(app) == 6
    app.extensions["mks_db"].engine.dispose()
