"""Every API route × every role: who may do what (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .conftest import Auth

NEW_ENTRY = {"title": "権限テスト", "category": "安全", "status": "approved"}

# (method, path, body) → allowed roles. {id} is an approved entry, {user} the viewer's user id.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str], int]] = [
    ("GET", "/api/v1/knowledge", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/search?q=権限", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/tags", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions/1", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/categories", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/auth/me", None, {"admin", "editor", "viewer"}, 200),
    ("POST", "/api/v1/knowledge", NEW_ENTRY, {"admin", "editor"}, 201),
    ("PUT", "/api/v1/knowledge/{id}", {"summary": "更新"}, {"admin", "editor"}, 200),
    ("DELETE", "/api/v1/knowledge/{id}", None, {"admin"}, 204),
    ("POST", "/api/v1/categories", {"name": "環境"}, {"admin"}, 201),
    ("GET", "/api/v1/users", None, {"admin"}, 200),
    (
        "POST",
        "/api/v1/users",
        {"username": "suzuki", "display_name": "鈴木", "password": "suzuki-pass"},
        {"admin"},
        201,
    ),
    ("GET", "/api/v1/users/{user}", None, {"admin"}, 200),
    ("PATCH", "/api/v1/users/{user}", {"display_name": "協力会社A"}, {"admin"}, 200),
    ("GET", "/api/v1/audit", None, {"admin"}, 200),
    ("POST", "/api/v1/auth/logout", None, {"admin", "editor", "viewer"}, 204),
]
USERS = {"admin": "admin", "editor": "yamada", "viewer": "partner"}


def route_url(client: FlaskClient, auth: Auth, path: str) -> tuple[str, int]:
    """The path with {id} an approved entry created for it and {user} the viewer; and that entry's id."""
    entry = client.post("/api/v1/knowledge", json=NEW_ENTRY, headers=auth.headers("admin")).json
    viewer_id = client.get("/api/v1/auth/me", headers=auth.headers("partner")).json["id"]
    return path.format(id=entry["id"], user=viewer_id), entry["id"]


@pytest.mark.parametrize("role", ["admin", "editor", "viewer", "anonymous"])
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "success"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_route_access(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    role: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    allowed: set[str],
    success: int,
) -> None:
    url, _entry_id = route_url(client, auth, path)
    headers = auth.headers(USERS[role]) if role != "anonymous" else {}
    response = client.open(url, method=method, json=body, headers=headers)
    if role == "anonymous":
        assert (response.status_code, response.json["error"]["code"]) == (401, "token_missing")
    elif role in allowed:
        assert response.status_code == success, response.json
    else:
        assert (response.status_code, response.json["error"]["code"]) == (403, "forbidden")
