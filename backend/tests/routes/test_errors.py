"""Every error answers the one JSON envelope; bad input changes nothing; no stack trace leaks."""

from __future__ import annotations

import gc
import types
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mks.db import get_session
from mks.models import Knowledge

BASE = "/api/v1/knowledge"


def assert_envelope(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert (error["status"], error["code"]) == (status, code)
    assert error["message"]
    return error  # type: ignore[no-any-return]


def knowledge_count(app: Flask) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(Knowledge)) or 0


def test_unknown_path_is_404(client: FlaskClient) -> None:
    assert_envelope(client.get("/no/such/path"), 404, "not_found")


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.patch("/api/v1/knowledge")
    assert_envelope(response, 405, "method_not_allowed")
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/knowledge/0",
        "/api/v1/knowledge/-1",
        "/api/v1/knowledge/abc",
        "/api/v1/knowledge/99999999999999999999",
        "/api/v1/knowledge/2147483648",
    ],
)
def test_impossible_ids_are_404(client: FlaskClient, admin: dict[str, str], path: str) -> None:
    assert_envelope(client.get(path, headers=admin), 404, "not_found")


def test_largest_id_is_a_plain_miss(client: FlaskClient, admin: dict[str, str]) -> None:
    assert_envelope(client.get("/api/v1/knowledge/2147483647", headers=admin), 404, "knowledge_not_found")


def test_body_too_large_is_413(client: FlaskClient, editor: dict[str, str], app: Flask) -> None:
    body = '{"title": "x", "category": "安全", "content": "' + "a" * (10 * 1024 * 1024) + '"}'  # 10 MB
    response = client.post(BASE, data=body, content_type="application/json", headers=editor)
    assert_envelope(response, 413, "payload_too_large")
    assert knowledge_count(app) == 0


def test_wrong_content_type_is_415(client: FlaskClient, editor: dict[str, str]) -> None:
    response = client.post(BASE, data="title=x", content_type="application/x-www-form-urlencoded", headers=editor)
    assert_envelope(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": "x",',
        b"[1, 2]",
        b'"text"',
        b"null",
        b"\xff\xfe{}",
        b'{"title": "\xe3\x81"}',
        b"[" * 5000 + b"]" * 5000,
    ],
    ids=["truncated", "array", "string", "null", "bad-utf8", "cut-utf8", "deeply-nested"],
)
def test_malformed_json_is_400(client: FlaskClient, editor: dict[str, str], app: Flask, raw: bytes) -> None:
    response = client.post(BASE, data=raw, content_type="application/json", headers=editor)
    assert_envelope(response, 400, "invalid_json")
    assert knowledge_count(app) == 0


@pytest.mark.parametrize(
    ("body", "field", "kind", "message"),
    [
        ({"category": "安全"}, "title", "missing", "必須項目です。"),
        ({"title": "", "category": "安全"}, "title", "string_too_short", "短すぎます。"),
        ({"title": "x" * 201, "category": "安全"}, "title", "string_too_long", "長すぎます。"),
        ({"title": "x", "category": "安全", "priority": "urgent"}, "priority", "enum", "許可されていない値です。"),
        ({"title": "x", "category": "安全", "tags": "養生"}, "tags", "list_type", "配列を指定してください。"),
        ({"title": "x", "category": "安全", "tags": ["t"] * 21}, "tags", "too_long", "要素が多すぎます。"),
        ({"title": "x", "category": "安全", "owner": "me"}, "owner", "extra_forbidden", "不明な項目です。"),
        ({"title": 5, "category": "安全"}, "title", "string_type", "文字列を指定してください。"),
    ],
)
def test_validation_errors_name_the_field(
    client: FlaskClient, editor: dict[str, str], app: Flask, body: dict[str, Any], field: str, kind: str, message: str
) -> None:
    error = assert_envelope(client.post(BASE, json=body, headers=editor), 422, "validation_error")
    assert error["details"] == [{"location": "body", "field": field, "type": kind, "message": message}]
    assert knowledge_count(app) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "random"}, "sort"),
        ({"updated_since": "yesterday"}, "updated_since"),
    ],
)
def test_bad_query_parameters(client: FlaskClient, admin: dict[str, str], params: dict[str, str], field: str) -> None:
    error = assert_envelope(client.get(BASE, query_string=params, headers=admin), 422, "validation_error")
    assert [(item["location"], item["field"]) for item in error["details"]] == [("query", field)]


def test_overlong_query_string(client: FlaskClient, admin: dict[str, str]) -> None:
    # 400 characters: over the limit of q, under that of the whole URL (414, test_http_security.py).
    response = client.get(f"{BASE}/search", query_string={"q": "養生" * 200}, headers=admin)
    assert_envelope(response, 422, "validation_error")


def test_unexpected_error_is_500_without_trace(app: Flask, client: FlaskClient) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    app.add_url_rule("/api/v1/explode", view_func=explode)
    response = client.get("/api/v1/explode")
    error = assert_envelope(response, 500, "internal_error")
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert error["message"] == "サーバー内部でエラーが発生しました。"


def _live_tracebacks() -> int:
    gc.collect()
    return sum(isinstance(obj, types.TracebackType) for obj in gc.get_objects())


@pytest.mark.parametrize(
    ("path", "headers", "code"),
    [
        (f"{BASE}/999999", "admin", "knowledge_not_found"),
        (BASE, {"Authorization": "Bearer not.a.token"}, "token_invalid"),
        (BASE, {}, "token_missing"),
    ],
)
def test_repeated_errors_keep_no_tracebacks(
    client: FlaskClient, admin: dict[str, str], path: str, headers: Any, code: str
) -> None:
    # An error raised as one shared instance keeps every raising frame alive through its traceback.
    sent = admin if headers == "admin" else headers
    assert_envelope(client.get(path, headers=sent), 401 if code.startswith("token") else 404, code)
    before = _live_tracebacks()
    for _ in range(50):
        client.get(path, headers=sent)
    assert _live_tracebacks() - before == 0
