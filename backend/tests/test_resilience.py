"""Failures that must stay bounded and quiet: a database that never answers, secrets that must never be logged."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mks.app import create_app

from .conftest import PASSWORDS, make_settings


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
    app = create_app(make_settings(url, tmp_path, database_connect_timeout=1), prepare=False)
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
