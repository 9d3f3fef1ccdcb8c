"""The in-process rate-limit storage: same counting as limits' own, no thread started per request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from limits.storage import memory

from mks import ratelimit
from mks.app import create_app
from mks.config import Settings
from mks.ratelimit import InlineExpiryMemoryStorage, limiter

from .conftest import Auth, make_settings
from .envelopes import RATE_LIMITED, field_error

LOGIN = "/api/v1/auth/login"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def timers(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every timer thread the storage would start (none is started)."""
    created: list[Any] = []

    class RecordedTimer:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            created.append(args)

        def start(self) -> None:
            pass

        def is_alive(self) -> bool:
            return False

    monkeypatch.setattr(memory.threading, "Timer", RecordedTimer)
    return created


def test_hits_start_no_thread(timers: list[Any]) -> None:
    storage = InlineExpiryMemoryStorage()
    timers.clear()  # the parent's constructor starts one, once
    for _ in range(100):
        storage.incr("client", expiry=60)
    assert storage.get("client") == 100
    assert timers == []


def test_expired_counters_are_dropped_inline(monkeypatch: pytest.MonkeyPatch, timers: list[Any]) -> None:
    clock = _Clock()
    monkeypatch.setattr(memory.time, "time", clock)
    monkeypatch.setattr(ratelimit.time, "monotonic", clock)
    storage = InlineExpiryMemoryStorage()
    storage.incr("a", expiry=60)
    storage.incr("b", expiry=60, amount=5)
    clock.now += 61
    storage.incr("c", expiry=60)
    assert dict(storage.storage) == {"c": 1}
    assert (storage.get("a"), storage.get("b"), storage.get("c")) == (0, 0, 1)


def test_the_app_counts_in_it_and_refuses_over_the_limit(database_url: str, tmp_path: Path, timers: list[Any]) -> None:
    app = create_app(make_settings(database_url, tmp_path, ratelimit_login_per_client="2 per minute"))
    try:
        assert isinstance(limiter.storage, InlineExpiryMemoryStorage)
        timers.clear()  # the one the storage's constructor starts
        client = app.test_client()
        logins = [client.post(LOGIN, json={"username": f"user{n}", "password": "x"}) for n in range(3)]
        assert [login.status_code for login in logins] == [401, 401, 429]
        assert timers == []
    finally:
        app.extensions["mks_db"].engine.dispose()


REDIS_URI = "redis://127.0.0.1:6379/0"
NESTED = "[" * 100_000 + "]" * 100_000
INVALID_JSON = {"code": "invalid_json", "message": "JSON オブジェクトとして解釈できません。", "status": 400}


def _username_error(kind: str, message: str) -> dict[str, Any]:
    error: dict[str, Any] = field_error("body", "username", kind, message)["error"]
    return error


@pytest.fixture(params=["memory", "redis"])
def login_storage(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Rate-limit settings on in-process storage, or on the real Redis under a prefix of this test alone."""
    if request.param == "memory":
        yield {}
        return
    prefix = f"mks-test-{uuid.uuid4().hex}"
    yield {"ratelimit_storage_uri": REDIS_URI, "ratelimit_key_prefix": prefix}
    connection = redis.Redis.from_url(REDIS_URI)
    for key in connection.scan_iter(match=f"*{prefix}*", count=1000):
        connection.delete(key)
    connection.close()


def _redis_keys(storage: dict[str, str]) -> list[bytes]:
    connection = redis.Redis.from_url(REDIS_URI)
    try:
        return list(connection.scan_iter(match=f"*{storage['ratelimit_key_prefix']}*", count=1000))
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ('{"username": ' + NESTED + ', "password": "x"}', 400, INVALID_JSON),
        (
            '{"username": "\\ud800", "password": "x"}',
            422,
            _username_error("string_unicode", "不正な文字が含まれています。"),
        ),
        (
            '{"username": ' + json.dumps("u" * 900_000) + ', "password": "x"}',
            422,
            _username_error("string_too_long", "長すぎます。"),
        ),
        ('{"username": {"a": 1}, "password": "x"}', 422, _username_error("string_type", "文字列を指定してください。")),
    ],
    ids=["nested", "lone-surrogate", "900kb", "object"],
)
def test_login_with_an_invalid_username_is_keyed_by_client_and_answers_the_envelope(
    database_url: str, tmp_path: Path, login_storage: dict[str, str], body: str, status: int, error: dict[str, Any]
) -> None:
    app = create_app(
        make_settings(database_url, tmp_path, ratelimit_login_per_username="1 per minute", **login_storage)
    )
    try:
        client = app.test_client()
        answers = [
            client.post(LOGIN, data=body, content_type="application/json", environ_base={"REMOTE_ADDR": address})
            for address in ("10.0.0.1", "10.0.0.2")
        ]
        # Keyed by client, not by the invalid name: the second client is not refused by its 1-per-minute limit.
        assert [(answer.status_code, answer.get_json()) for answer in answers] == [(status, {"error": error})] * 2
        if login_storage:
            keys = _redis_keys(login_storage)
            assert keys and max(len(key) for key in keys) < 200
            assert not any(b"user:" in key for key in keys)
    finally:
        app.extensions["mks_db"].engine.dispose()


def test_a_valid_username_is_still_limited_across_clients(
    database_url: str, tmp_path: Path, login_storage: dict[str, str]
) -> None:
    app = create_app(
        make_settings(database_url, tmp_path, ratelimit_login_per_username="1 per minute", **login_storage)
    )
    try:
        client = app.test_client()
        first = client.post(
            LOGIN, json={"username": "Yamada", "password": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
        )
        second = client.post(
            LOGIN, json={"username": "yamada", "password": "y"}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
        )
        assert (first.status_code, second.status_code) == (401, 429)
        if login_storage:
            assert any(b"user:yamada" in key for key in _redis_keys(login_storage))
    finally:
        app.extensions["mks_db"].engine.dispose()


SEARCH = "/api/v1/knowledge/search"
LIST = "/api/v1/knowledge"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "instance", ratelimit_search="2 per minute")


def rate_limit_hits(app: Flask, endpoint: str) -> float | None:
    return app.extensions["mks_scrape_registry"].get_sample_value(  # type: ignore[no-any-return]
        "mks_rate_limit_hits_total", {"endpoint": endpoint}
    )


def test_search_has_its_own_limit_per_user(app: Flask, client: FlaskClient, auth: Auth) -> None:
    """Search reads far more than a detail page: a viewer gets MKS_RATELIMIT_SEARCH of them, whatever the address."""
    viewer = auth.headers("partner")
    searches = [
        client.get(SEARCH, query_string={"q": "養生"}, headers=viewer, environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
        for n in range(3)
    ]
    assert [response.status_code for response in searches] == [200, 200, 429]
    assert searches[2].json == RATE_LIMITED
    assert 0 < int(searches[2].headers["Retry-After"]) <= 60
    # A new token of the same user shares the budget; another user from the same address has their own.
    assert client.get(SEARCH, query_string={"q": "養生"}, headers=auth.headers("partner")).status_code == 429
    assert client.get(SEARCH, query_string={"q": "養生"}, headers=auth.headers("admin")).status_code == 200
    # Cheap routes are not counted against it.
    assert client.get(LIST, headers=viewer).status_code == 200
    assert rate_limit_hits(app, SEARCH) == 2
    assert rate_limit_hits(app, LIST) == 0


def test_search_without_a_valid_token_is_limited_per_client(app: Flask, client: FlaskClient) -> None:
    anonymous = [
        client.get(SEARCH, query_string={"q": "養生"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code
        for _ in range(3)
    ]
    assert anonymous == [401, 401, 429]
    forged = {"Authorization": "Bearer forged.token.value"}
    other = client.get(SEARCH, query_string={"q": "養生"}, headers=forged, environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 401
    assert rate_limit_hits(app, SEARCH) == 1


def test_lists_sorted_without_an_index_share_the_search_budget(app: Flask, client: FlaskClient, auth: Auth) -> None:
    viewer = auth.headers("partner")
    assert client.get(LIST, query_string={"sort": "title"}, headers=viewer).status_code == 200
    assert client.get(SEARCH, query_string={"q": "養生"}, headers=viewer).status_code == 200
    refused = client.get(LIST, query_string={"sort": "-priority"}, headers=viewer)
    assert (refused.status_code, refused.json) == (429, RATE_LIMITED)
    # Newest or oldest first walks the updated_at index: as cheap as a detail page, never refused here.
    for sort in ("-updated_at", "updated_at"):
        assert client.get(LIST, query_string={"sort": sort}, headers=viewer).status_code == 200
    assert rate_limit_hits(app, LIST) == 1
