"""Races on one row, run with real threads against PostgreSQL: each answers its documented code, never 500.

Every thread has its own test client (its own session and connection), and all of them are released
at once by a barrier, so their transactions overlap on the server as concurrent requests' would.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from mks.config import Settings
from mks.db import get_session
from mks.models import AuditAction, AuditEntry, Knowledge, KnowledgeRevision, User

from ..conftest import make_settings

THREADS = 20
JOIN_SECONDS = 60

# Races need concurrent transactions on one server: PostgreSQL only (SQLite serializes writers).
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The production lock timeout: the tests' 1 s could end a loser's wait for the winner's row with 503."""
    default = Settings.model_fields["database_lock_timeout_seconds"].default
    return make_settings(database_url, tmp_path / "instance", database_lock_timeout_seconds=default)


def in_parallel(app: Flask, request: Callable[[Any, int], Any]) -> list[Any]:
    """Run request(client, i) on THREADS threads released together; their responses, in thread order."""
    barrier = threading.Barrier(THREADS)
    responses: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=JOIN_SECONDS)
        responses[index] = request(client, index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads)
    assert None not in responses  # every thread got its answer
    return responses


def answers(responses: list[Any]) -> Counter[tuple[int, str | None]]:
    """How many responses had each (status, error code)."""
    return Counter(
        (response.status_code, response.json["error"]["code"] if response.status_code >= 400 else None)
        for response in responses
    )


@pytest.mark.parametrize("send_version", [True, False], ids=["with-version", "without-version"])
def test_parallel_updates_of_category_and_tags(
    app: Flask, admin: dict[str, str], editor: dict[str, str], send_version: bool
) -> None:
    """Losers answer 409 version_conflict; winners 200, each one revision, numbered without a gap."""
    client = app.test_client()
    created = client.post(
        "/api/v1/knowledge", json={"title": "同時編集", "category": "品質", "tags": ["既存"]}, headers=editor
    ).json
    url = f"/api/v1/knowledge/{created['id']}"
    categories = ["安全", "原価", "出来形", "施工計画"]

    def update(thread_client: Any, index: int) -> Any:
        # Tags new to the database, shared in opposite orders: concurrent requests create the same tags.
        shared = ["共通タグA", "共通タグB"] if index % 2 else ["共通タグB", "共通タグA"]
        body: dict[str, Any] = {"category": categories[index % 4], "tags": [*shared, f"個別{index}"]}
        if send_version:
            body["version"] = 1
        return thread_client.put(url, json=body, headers=editor)

    responses = in_parallel(app, update)
    winners = [response for response in responses if response.status_code == 200]
    with app.app_context():
        session = get_session()
        version = session.scalar(select(Knowledge.version).where(Knowledge.id == created["id"]))
        numbers = session.scalars(
            select(KnowledgeRevision.revision)
            .where(KnowledgeRevision.knowledge_id == created["id"])
            .order_by(KnowledgeRevision.revision)
        ).all()
        updates_audited = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == AuditAction.KNOWLEDGE_UPDATE)
        )
    expected_winners = 1 if send_version else version - 1
    assert answers(responses) == {(200, None): expected_winners, (409, "version_conflict"): THREADS - expected_winners}
    assert version == len(winners) + 1
    assert numbers == list(range(1, version + 1))
    assert sorted(response.json["version"] for response in winners) == list(range(2, version + 1))
    assert updates_audited == len(winners)
    # The entry is the last winner's write, whole: its detail matches its newest revision.
    detail = client.get(url, headers=admin).json
    newest = client.get(f"{url}/revisions/{version}", headers=admin).json["snapshot"]
    assert (detail["category"], detail["tags"]) == (newest["category"], newest["tags"])
    assert detail == next(response.json for response in winners if response.json["version"] == version) | {
        "view_count": 1
    }


def test_parallel_user_creation_with_one_username(app: Flask, admin: dict[str, str]) -> None:
    """Exactly one account is created; every other request answers 409 username_taken."""

    def create(thread_client: Any, index: int) -> Any:
        body = {"username": "suzuki", "display_name": f"鈴木{index}", "password": "suzuki-pass-1"}
        return thread_client.post("/api/v1/users", json=body, headers=admin)

    responses = in_parallel(app, create)
    assert answers(responses) == {(201, None): 1, (409, "username_taken"): THREADS - 1}
    created = next(response.json for response in responses if response.status_code == 201)
    with app.app_context():
        session = get_session()
        stored = session.scalars(select(User).where(User.username == "suzuki")).all()
        audited = session.scalars(
            select(AuditEntry.target_id).where(
                AuditEntry.action == AuditAction.USER_CREATE, AuditEntry.actor_id.is_not(None)
            )
        ).all()
    assert [(user.id, user.display_name) for user in stored] == [(created["id"], created["display_name"])]
    assert audited == [created["id"]]
