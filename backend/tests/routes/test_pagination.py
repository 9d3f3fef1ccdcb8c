"""Paging the knowledge list: offsets are capped, cursors continue any sort order exactly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from mks.db import get_session
from mks.models import Knowledge
from mks.schemas.knowledge import SortKey

from ..envelopes import field_error
from ..plans import list_page_plan, statements_sent
from ..workflow import created_in
from .test_knowledge import BASE, entry

# Several entries share each sort key: the same moment, the same title, the same priority, no views.
TIED = datetime(2026, 4, 1, 9, 0, 0, 123456, tzinfo=UTC)
# Each entry with the status the review workflow brings it to.
ENTRIES: list[tuple[str, dict[str, Any]]] = [
    ("approved", {"title": "足場の点検", "priority": "high", "category": "安全"}),
    ("approved", {"title": "足場の点検", "priority": "normal", "category": "安全"}),
    ("draft", {"title": "型枠の存置期間", "priority": "high", "category": "品質"}),
    ("approved", {"title": "足場の点検", "priority": "critical", "category": "品質"}),
    ("approved", {"title": "杭の支持層", "priority": "high", "category": "安全"}),
    ("draft", {"title": "型枠の存置期間", "priority": "low", "category": "安全"}),
    ("approved", {"title": "鉄筋の継手", "priority": "normal", "category": "品質"}),
    ("approved", {"title": "鉄筋の継手", "priority": "high", "category": "安全"}),
]
MAX_PAGES = 50  # a bound on every walk: the corpus needs at most 8


@pytest.fixture
def corpus(
    app: Flask, client: FlaskClient, admin: dict[str, str], approver: dict[str, str], viewer: dict[str, str]
) -> list[int]:
    ids = [created_in(client, admin, approver, status, **entry(**body))["id"] for status, body in ENTRIES]
    with app.app_context():
        session = get_session()
        # Ties in the timestamps, even across the ids in between, as a batch import would leave them.
        session.execute(update(Knowledge).where(Knowledge.id.in_(ids[1:5])).values(updated_at=TIED))
        session.execute(update(Knowledge).where(Knowledge.id.in_(ids[2:7])).values(created_at=TIED))
        session.commit()
    for entry_id in (ids[0], ids[3], ids[4], ids[4]):  # two entries viewed once: a tie; one twice
        assert client.get(f"{BASE}/{entry_id}", headers=viewer).status_code == 200
    return ids


def page(client: FlaskClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get(BASE, query_string=params, headers=headers)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def walk_by_cursor(client: FlaskClient, headers: dict[str, str], limit: int, **params: Any) -> list[int]:
    """Every id of the list, following next_cursor from the first page until it is null."""
    first = page(client, headers, limit=limit, **params)
    ids, cursor, total = [item["id"] for item in first["items"]], first["next_cursor"], first["total"]
    for _ in range(MAX_PAGES):
        if cursor is None:
            assert len(ids) == total
            return ids
        following = page(client, headers, limit=limit, cursor=cursor, **params)
        assert (following["total"], following["offset"]) == (total, 0)
        ids += [item["id"] for item in following["items"]]
        cursor = following["next_cursor"]
    raise AssertionError("the cursor never reached the last page")


def walk_by_offset(client: FlaskClient, headers: dict[str, str], limit: int, **params: Any) -> list[int]:
    ids: list[int] = []
    for number in range(MAX_PAGES):
        items = page(client, headers, limit=limit, offset=number * limit, **params)["items"]
        if not items:
            return ids
        ids += [item["id"] for item in items]
    raise AssertionError("offsets never reached the end")


@pytest.mark.parametrize("sort", list(SortKey))
@pytest.mark.parametrize(
    ("user", "filters"),
    [("admin", {}), ("partner", {}), ("admin", {"category": "安全"}), ("partner", {"tag": "冬期"})],
)
def test_cursor_walks_every_entry_once_in_offset_order(
    client: FlaskClient, auth: Any, corpus: list[int], sort: SortKey, user: str, filters: dict[str, str]
) -> None:
    headers = auth.headers(user)
    everything = page(client, headers, limit=100, sort=sort.value, **filters)
    expected = [item["id"] for item in everything["items"]]
    assert everything["next_cursor"] is None
    assert len(expected) == everything["total"] == len(set(expected)) > 2
    for limit in (1, 2, 3):
        assert walk_by_offset(client, headers, limit, sort=sort.value, **filters) == expected
        assert walk_by_cursor(client, headers, limit, sort=sort.value, **filters) == expected


def test_the_last_full_page_has_no_cursor(client: FlaskClient, viewer: dict[str, str], corpus: list[int]) -> None:
    first = page(client, viewer, limit=3)
    assert first["total"] == 6
    last = page(client, viewer, limit=3, cursor=first["next_cursor"])
    assert (len(last["items"]), last["next_cursor"]) == (3, None)
    assert page(client, viewer, limit=3, offset=3)["next_cursor"] is None


def test_offset_is_capped(client: FlaskClient, admin: dict[str, str]) -> None:
    """A deep offset makes the database walk and drop every row before it (0.6-0.9 s at 100k entries)."""
    assert page(client, admin, offset=10_000)["items"] == []
    response = client.get(BASE, query_string={"offset": 10_001, "sort": "title"}, headers=admin)
    assert response.status_code == 422
    assert response.json == field_error(
        "query",
        "offset",
        "offset_too_deep",
        "offset は 10,000 までです。続きは応答の next_cursor を cursor に指定して取得してください。",
    )


def _tampered(cursor: str) -> str:
    payload, _, signature = cursor.partition(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    return f"{flipped}.{signature}"


INVALID_CURSOR = {
    "location": "query",
    "field": "cursor",
    "type": "invalid_cursor",
    "message": "cursor が不正か、別の並び順（sort）の一覧のものです。一覧の最初のページから取得し直してください。",
}


@pytest.mark.parametrize(
    ("make_cursor", "params", "detail"),
    [
        (_tampered, {}, INVALID_CURSOR),
        (lambda cursor: cursor.partition(".")[0], {}, INVALID_CURSOR),  # signature left off
        (lambda cursor: cursor + "x", {}, INVALID_CURSOR),
        (lambda cursor: "!!!.???", {}, INVALID_CURSOR),
        (lambda cursor: "養生.生", {}, INVALID_CURSOR),
        (lambda cursor: cursor, {"sort": "title"}, INVALID_CURSOR),  # issued for -updated_at
        (
            lambda cursor: cursor,
            {"offset": 2},
            {
                "location": "query",
                "field": "cursor",
                "type": "cursor_with_offset",
                "message": "cursor と offset は同時に指定できません。",
            },
        ),
        (
            lambda cursor: "x" * 2049,
            {},
            {"location": "query", "field": "cursor", "type": "string_too_long", "message": "長すぎます。"},
        ),
    ],
)
def test_bad_cursors_are_refused(
    client: FlaskClient,
    admin: dict[str, str],
    corpus: list[int],
    make_cursor: Any,
    params: dict[str, Any],
    detail: dict[str, str],
) -> None:
    cursor = page(client, admin, limit=2)["next_cursor"]
    response = client.get(BASE, query_string={"limit": 2, "cursor": make_cursor(cursor), **params}, headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"] == [detail]


def test_cursor_pages_walk_an_index(app: Flask, client: FlaskClient, auth: Any, corpus: list[int]) -> None:
    """EXPLAIN of a following page of a viewer's list: it seeks in the status index, no sort, no skipped rows."""
    headers = auth.headers("partner")
    cursor = page(client, headers, limit=2)["next_cursor"]
    engine = app.extensions["mks_db"].engine
    with statements_sent(engine) as sent:
        page(client, headers, limit=2, cursor=cursor)
    plan = list_page_plan(engine, sent)
    if engine.dialect.name == "postgresql":
        assert "Index Cond: (((status)::text = 'approved'::text) AND (updated_at <=" in plan, plan
    else:
        assert "(status=? AND updated_at<?)" in plan, plan
    assert "ix_knowledge_status_updated" in plan
