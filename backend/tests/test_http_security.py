"""Security headers on every response; CORS closed unless origins are configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from mks.app import create_app
from mks.config import ConfigError, Settings
from mks.db import get_session
from mks.http_security import MAX_HEADER_FIELD, MAX_REQUEST_TARGET
from mks.models import AuditEntry

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


def last_audited_address(app: Flask) -> str | None:
    with app.app_context():
        return get_session().scalars(select(AuditEntry.client_address).order_by(AuditEntry.id.desc())).first()


def failed_login(client: FlaskClient, peer: str, forwarded_for: str) -> None:
    response = client.post(
        "/api/v1/auth/login",
        json={"username": "ghost", "password": "x"},
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": peer},
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client_address"),
    [
        ("127.0.0.1", "198.51.100.7", "198.51.100.7"),  # the proxy on the same host (trusted by default)
        ("::1", "198.51.100.7", "198.51.100.7"),
        ("::ffff:127.0.0.1", "198.51.100.7", "198.51.100.7"),  # an IPv4 peer on a dual-stack socket
        ("127.0.0.1", "203.0.113.1, 198.51.100.7", "198.51.100.7"),  # only the hop the proxy added
        ("192.0.2.10", "198.51.100.7", "192.0.2.10"),  # anyone else names itself in vain
        ("127.0.0.2", "198.51.100.7", "127.0.0.2"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    app: Flask, client: FlaskClient, peer: str, forwarded_for: str, client_address: str
) -> None:
    failed_login(client, peer, forwarded_for)
    assert last_audited_address(app) == client_address


def test_without_trusted_proxies_no_forwarded_header_is_believed(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, trusted_proxies=""))
    try:
        failed_login(app.test_client(), "127.0.0.1", "198.51.100.7")
        assert last_audited_address(app) == "127.0.0.1"
    finally:
        app.extensions["mks_db"].engine.dispose()


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MKS_TRUSTED_PROXIES", "MKS_FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings(_env_file=None).trusted_proxies == ["127.0.0.1/32", "::1/128"]  # type: ignore[call-arg]
    monkeypatch.setenv("MKS_FORWARDED_ALLOW_IPS", "10.1.2.3, 10.8.0.0/16")  # the former name still works
    assert Settings(_env_file=None).trusted_proxies == ["10.1.2.3/32", "10.8.0.0/16"]  # type: ignore[call-arg]
    monkeypatch.setenv("MKS_TRUSTED_PROXIES", "10.0.0.7/8")  # the new name wins
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.0/8"]  # type: ignore[call-arg]
    monkeypatch.setenv("MKS_TRUSTED_PROXIES", "")
    assert Settings(_env_file=None).trusted_proxies == []  # type: ignore[call-arg]
    for value in ("*", "proxy.example", "10.0.0.0/33"):
        monkeypatch.setenv("MKS_TRUSTED_PROXIES", value)
        with pytest.raises(ConfigError, match="MKS_TRUSTED_PROXIES"):
            Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/api/v1//knowledge", "/api/v1/knowledge"),
        ("/api//v1/knowledge?limit=3&q=%E9%A4%8A", "/api/v1/knowledge?limit=3&q=%E9%A4%8A"),
    ],
)
def test_redirects_are_relative_and_in_the_envelope(client: FlaskClient, path: str, location: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"})
    assert (response.status_code, response.headers["Location"]) == (308, location)
    assert response.json == {
        "error": {
            "code": "moved_permanently",
            "message": "URL が正規の形に変わりました。Location ヘッダーの URL に送り直してください。",
            "status": 308,
        }
    }


def test_overlong_request_target_and_header_are_414_and_431(client: FlaskClient) -> None:
    assert client.get("/health?pad=" + "a" * 4000).status_code == 200
    too_long = client.get("/health?pad=" + "a" * (MAX_REQUEST_TARGET - len("/health?pad=") + 1))
    assert (too_long.status_code, too_long.json) == (
        414,
        {"error": {"code": "uri_too_long", "message": "URL が長すぎます。", "status": 414}},
    )
    assert client.get("/health", headers={"X-Pad": "a" * (MAX_HEADER_FIELD - len("X-Pad: "))}).status_code == 200
    too_large = client.get("/health", headers={"X-Pad": "a" * (MAX_HEADER_FIELD - len("X-Pad: ") + 1)})
    assert (too_large.status_code, too_large.json) == (
        431,
        {"error": {"code": "header_fields_too_large", "message": "リクエストヘッダーが大きすぎます。", "status": 431}},
    )


LOOK_ALIKE_ORIGINS = [
    "https://*.trusted.example",
    "*",
    "https://portal.example.co.jp/",
    "https://portal.example.co.jp/app",
    "null",
    "portal.example.co.jp",
    "https://portal.example.co.jp.*",
    "https://(a|b).example",
]


@pytest.mark.parametrize("entry", LOOK_ALIKE_ORIGINS)
def test_cors_origins_must_be_exact(entry: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MKS_CORS_ORIGINS"):
        Settings(cors_origins=entry, instance_path=tmp_path)


@pytest.mark.parametrize(
    ("configured", "allowed", "refused"),
    [
        ("https://portal.example.co.jp", "https://portal.example.co.jp", "https://portal.example.co.jp.evil.com"),
        ("https://Portal.example.co.jp:8443", "https://portal.example.co.jp:8443", "https://portal.example.co.jp"),
        ("http://[::1]:3000", "http://[::1]:3000", "http://1:3000"),  # brackets are no character class
    ],
)
def test_cors_matches_whole_origins(
    database_url: str, tmp_path: Path, configured: str, allowed: str, refused: str
) -> None:
    app = create_app(make_settings(database_url, tmp_path, cors_origins=configured))
    try:
        client = app.test_client()
        preflight = {"Access-Control-Request-Method": "POST"}
        assert (
            client.options("/api/v1/knowledge", headers={"Origin": allowed, **preflight}).headers.get(
                "Access-Control-Allow-Origin"
            )
            == allowed
        )
        assert (
            "Access-Control-Allow-Origin"
            not in client.options("/api/v1/knowledge", headers={"Origin": refused, **preflight}).headers
        )
    finally:
        app.extensions["mks_db"].engine.dispose()
