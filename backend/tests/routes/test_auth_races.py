"""Races on one token or one account, run by real threads against PostgreSQL: the documented answer, never a 500."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import ColumnElement, func, select
from werkzeug.test import TestResponse

from mks.config import Settings
from mks.db import get_session
from mks.models import AuditAction, AuditEntry, RevokedToken, User

from ..conftest import PASSWORDS, Auth, make_settings

# Row locks and ON CONFLICT are where the races are decided: SQLite serializes every writer anyway.
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

LOCKOUT_THRESHOLD = 5


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "instance", login_lockout_threshold=LOCKOUT_THRESHOLD)


def in_parallel(app: Flask, count: int, call: Callable[[FlaskClient], TestResponse]) -> list[tuple[int, str | None]]:
    """Run the call from `count` threads at once, each with its own client; (status, error code) of each."""
    barrier = threading.Barrier(count)

    def one(_: int) -> tuple[int, str | None]:
        client = app.test_client()
        barrier.wait(timeout=30)
        response = call(client)
        body = response.json or {}
        return response.status_code, body.get("error", {}).get("code")

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def count_rows(app: Flask, model: type, *conditions: ColumnElement[bool]) -> int:
    with app.app_context():
        return get_session().scalar(select(func.count()).select_from(model).where(*conditions)) or 0


def test_parallel_logouts_with_one_token(app: Flask, client: FlaskClient, auth: Auth) -> None:
    token = auth.tokens("yamada")["access_token"]
    answers = in_parallel(app, 10, lambda c: c.post("/api/v1/auth/logout", headers=bearer(token)))
    # The logout that revokes the family wins; every other one finds the token revoked.
    assert Counter(answers) == {(204, None): 1, (401, "token_revoked"): 9}
    assert count_rows(app, RevokedToken) == 1
    assert count_rows(app, AuditEntry, AuditEntry.action == AuditAction.LOGOUT) == 1


def test_parallel_refreshes_of_one_refresh_token(app: Flask, client: FlaskClient, auth: Auth) -> None:
    tokens = auth.tokens("yamada")
    refreshed: list[dict[str, str]] = []

    def refresh(c: FlaskClient) -> TestResponse:
        response = c.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"]))
        if response.status_code == 200:
            refreshed.append(response.json)  # type: ignore[arg-type]
        return response

    answers = in_parallel(app, 10, refresh)
    assert Counter(answers) == {(200, None): 1, (401, "token_revoked"): 9}
    # The losers presented a spent refresh token: reuse, so the whole family is revoked, the winner's pair too.
    assert count_rows(app, RevokedToken) == 2  # the spent refresh token and the family
    for response in (
        client.get("/api/v1/auth/me", headers=bearer(refreshed[0]["access_token"])),
        client.post("/api/v1/auth/refresh", headers=bearer(refreshed[0]["refresh_token"])),
    ):
        assert (response.status_code, response.json["error"]["code"]) == (401, "token_revoked")


def test_parallel_failed_logins_lock_at_exactly_the_threshold(app: Flask, client: FlaskClient) -> None:
    body = {"username": "yamada", "password": "wrong-password"}
    answers = in_parallel(app, 7, lambda c: c.post("/api/v1/auth/login", json=body))
    assert answers == [(401, "invalid_credentials")] * 7
    # Five failures were counted and locked the account; the two that found it locked did not count.
    registry = app.extensions["mks_scrape_registry"]
    attempts = {
        status: registry.get_sample_value("mks_auth_attempts_total", {"status": status})
        for status in ("failure", "locked")
    }
    assert attempts == {"failure": LOCKOUT_THRESHOLD, "locked": 2}
    with app.app_context():
        user = get_session().scalar(select(User).where(User.username == "yamada"))
        assert user is not None
        assert (user.failed_logins, user.locked_until is not None) == (0, True)
        reasons = Counter(
            entry.details["reason"]
            for entry in get_session().scalars(select(AuditEntry).where(AuditEntry.action == AuditAction.LOGIN_FAILED))
        )
    assert reasons == {"failure": LOCKOUT_THRESHOLD, "locked": 2}
    right = client.post("/api/v1/auth/login", json={"username": "yamada", "password": PASSWORDS["yamada"]})
    assert (right.status_code, right.json["error"]["code"]) == (401, "invalid_credentials")
