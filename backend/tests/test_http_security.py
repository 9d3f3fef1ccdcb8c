"""Security headers on every response; CORS closed unless origins are configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mks.app import create_app

from .conftest import make_settings

EXPECTED_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("path", "status"), [("/health", 200), ("/no/such", 404), ("/api/v1/knowledge", 401), ("/metrics", 200)]
)
def test_security_headers_on_every_response(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in EXPECTED_HEADERS} == EXPECTED_HEADERS


def test_cors_is_closed_by_default(client: FlaskClient, admin: dict[str, str]) -> None:
    response = client.get("/api/v1/knowledge", headers={**admin, "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options(
        "/api/v1/knowledge", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.fixture
def cors_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(make_settings(database_url, tmp_path, cors_origins=["https://portal.example.co.jp"]))
    yield app
    app.extensions["mks_db"].engine.dispose()


def test_cors_allows_only_configured_origins(cors_app: Flask) -> None:
    client = cors_app.test_client()
    allowed = client.options(
        "/api/v1/knowledge",
        headers={
            "Origin": "https://portal.example.co.jp",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://portal.example.co.jp"
    assert set(allowed.headers["Access-Control-Allow-Headers"].lower().split(", ")) == {"authorization", "content-type"}
    other = client.get("/api/v1/knowledge", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/health", headers={"Origin": "https://portal.example.co.jp"}).headers
    )
