"""The in-process rate-limit storage: same counting as limits' own, no thread started per request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from limits.storage import memory

from mks import ratelimit
from mks.app import create_app
from mks.ratelimit import InlineExpiryMemoryStorage, limiter

from .conftest import make_settings

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
