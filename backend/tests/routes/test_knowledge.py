"""Knowledge CRUD, listing, revisions and optimistic locking, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mks.db import get_session
from mks.models import Knowledge, KnowledgeRevision

from ..plans import list_page_plan, statements_sent
from ..workflow import created_in, publish

BASE = "/api/v1/knowledge"


def entry(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "寒中コンクリートの加熱養生",
        "summary": "外気温が低い時期の養生温度管理の要点",
        "content": "## 手順\n- 養生温度を 5℃ 以上に保つ\n- 温度記録を 2 時間ごとに取る",
        "category": "品質",
        "tags": ["コンクリート", "養生", "冬期"],
        "priority": "high",
        "project_code": "PRJ-2026-001",
        "owner_department": "品質管理部",
    }
    body.update(overrides)
    return body


def create(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = client.post(BASE, json=entry(**overrides), headers=headers)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[return-value]


def test_create_returns_the_entry_and_stores_it(client: FlaskClient, editor: dict[str, str], app: Any) -> None:
    created = create(client, editor)
    assert created["title"] == "寒中コンクリートの加熱養生"
    assert created["tags"] == ["コンクリート", "冬期", "養生"]  # sorted by name
    assert created["category"] == "品質"
    assert created["status"] == "draft"
    assert created["version"] == 1
    assert created["view_count"] == 0
    assert created["created_by"]["username"] == "yamada"
    assert created["created_at"].endswith("Z")  # UTC, also on SQLite
    with app.app_context():
        stored = get_session().get(Knowledge, created["id"])
        assert stored.project_code == "PRJ-2026-001"
        assert get_session().scalar(select(func.count()).select_from(KnowledgeRevision)) == 1


def test_entry_without_tags_reads_as_an_empty_list(client: FlaskClient, editor: dict[str, str]) -> None:
    created = create(client, editor, tags=[])
    assert created["tags"] == []
    assert client.get(f"{BASE}/{created['id']}", headers=editor).json["tags"] == []
    assert client.get(BASE, headers=editor).json["items"][0]["tags"] == []


def test_get_counts_views(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    created = publish(client, editor, admin, **entry())
    for expected in (1, 2, 3):
        response = client.get(f"{BASE}/{created['id']}", headers=viewer)
        assert response.status_code == 200
        assert response.json["view_count"] == expected
    assert response.json["content"].startswith("## 手順")


def test_update_records_a_revision_with_changed_fields(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    created = create(client, editor)
    response = client.put(
        f"{BASE}/{created['id']}", json={"title": "加熱養生の温度管理", "tags": ["養生"], "version": 1}, headers=admin
    )
    assert response.status_code == 200, response.json
    assert response.json["version"] == 2
    assert response.json["updated_by"]["username"] == "admin"
    assert response.json["summary"] == created["summary"]  # untouched fields keep their value
    revisions = client.get(f"{BASE}/{created['id']}/revisions", headers=editor).json["items"]
    assert [item["revision"] for item in revisions] == [2, 1]
    assert revisions[0]["changed_fields"] == ["title", "tags"]
    assert revisions[0]["changed_by"]["username"] == "admin"
    first = client.get(f"{BASE}/{created['id']}/revisions/1", headers=editor).json
    assert first["snapshot"]["title"] == "寒中コンクリートの加熱養生"
    assert first["snapshot"]["tags"] == ["コンクリート", "冬期", "養生"]
    second = client.get(f"{BASE}/{created['id']}/revisions/2", headers=editor).json
    assert second["snapshot"]["title"] == "加熱養生の温度管理"
    missing = client.get(f"{BASE}/{created['id']}/revisions/3", headers=editor)
    assert missing.status_code == 404
    assert missing.json["error"]["code"] == "revision_not_found"


def test_update_without_change_keeps_version(client: FlaskClient, editor: dict[str, str]) -> None:
    created = create(client, editor)
    response = client.put(f"{BASE}/{created['id']}", json={"title": created["title"]}, headers=editor)
    assert response.json["version"] == 1
    assert len(client.get(f"{BASE}/{created['id']}/revisions", headers=editor).json["items"]) == 1


def test_stale_version_is_a_conflict_and_changes_nothing(client: FlaskClient, editor: dict[str, str]) -> None:
    created = create(client, editor)
    assert (
        client.put(f"{BASE}/{created['id']}", json={"title": "一人目の編集", "version": 1}, headers=editor).status_code
        == 200
    )
    response = client.put(f"{BASE}/{created['id']}", json={"title": "二人目の編集", "version": 1}, headers=editor)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "version_conflict"
    assert response.json["error"]["details"] == [{"current_version": 2}]
    assert client.get(f"{BASE}/{created['id']}", headers=editor).json["title"] == "一人目の編集"


def test_delete_removes_entry_revisions_and_search_hits(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], app: Any
) -> None:
    created = create(client, editor)
    client.put(f"{BASE}/{created['id']}", json={"summary": "二版目"}, headers=editor)
    assert client.delete(f"{BASE}/{created['id']}", headers=admin).status_code == 204
    assert client.get(f"{BASE}/{created['id']}", headers=admin).status_code == 404
    assert client.get(f"{BASE}/search", query_string={"q": "加熱養生"}, headers=admin).json["total"] == 0
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(KnowledgeRevision)) == 0


def test_missing_entry_is_404_everywhere(client: FlaskClient, admin: dict[str, str]) -> None:
    for method, path in [
        ("get", "/999"),
        ("put", "/999"),
        ("delete", "/999"),
        ("get", "/999/revisions"),
        ("get", "/999/revisions/1"),
    ]:
        response = client.open(
            f"{BASE}{path}", method=method.upper(), json={"title": "x"} if method == "put" else None, headers=admin
        )
        assert response.status_code == 404, (method, path)
        assert response.json["error"]["code"] == "knowledge_not_found"


def test_unknown_category_is_a_field_error(client: FlaskClient, editor: dict[str, str]) -> None:
    response = client.post(BASE, json=entry(category="存在しない"), headers=editor)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "category"
    assert response.json["error"]["details"][0]["type"] == "unknown_category"


@pytest.fixture
def corpus(client: FlaskClient, admin: dict[str, str], approver: dict[str, str]) -> list[dict[str, Any]]:
    rows = [
        entry(
            title="足場の点検手順",
            category="安全",
            tags=["足場", "点検"],
            status="approved",
            project_code="PRJ-A",
            owner_department="安全環境部",
            priority="critical",
        ),
        entry(
            title="鉄筋かぶり厚さの確認",
            category="品質",
            tags=["鉄筋"],
            status="approved",
            project_code="PRJ-B",
            priority="low",
        ),
        entry(
            title="実行予算の見直し",
            category="原価",
            tags=["予算"],
            status="draft",
            project_code="PRJ-A",
            priority="normal",
        ),
        entry(
            title="出来形のドローン測量",
            category="出来形",
            tags=["ICT", "点検"],
            status="review",
            project_code="PRJ-C",
            priority="high",
        ),
    ]
    return [created_in(client, admin, approver, row.pop("status"), **row) for row in rows]


@pytest.mark.parametrize(
    ("params", "titles"),
    [
        ({"category": "安全"}, ["足場の点検手順"]),
        ({"tag": "点検"}, ["出来形のドローン測量", "足場の点検手順"]),
        ({"status": "draft"}, ["実行予算の見直し"]),
        ({"project_code": "PRJ-A"}, ["実行予算の見直し", "足場の点検手順"]),
        ({"owner_department": "安全環境部"}, ["足場の点検手順"]),
        ({"category": "安全", "status": "approved", "tag": "点検"}, ["足場の点検手順"]),
        ({"project_code": "PRJ-A", "status": "draft", "sort": "title"}, ["実行予算の見直し"]),
        ({"sort": "title"}, ["出来形のドローン測量", "実行予算の見直し", "足場の点検手順", "鉄筋かぶり厚さの確認"]),
        ({"created_by": "admin", "status": "draft"}, ["実行予算の見直し"]),
        ({"sort": "-priority"}, ["足場の点検手順", "出来形のドローン測量", "実行予算の見直し", "鉄筋かぶり厚さの確認"]),
        (
            {"sort": "updated_at"},
            ["足場の点検手順", "鉄筋かぶり厚さの確認", "実行予算の見直し", "出来形のドローン測量"],
        ),
    ],
)
def test_list_filters_and_sorts(
    client: FlaskClient, admin: dict[str, str], corpus: list[dict[str, Any]], params: dict[str, str], titles: list[str]
) -> None:
    response = client.get(BASE, query_string=params, headers=admin)
    assert response.status_code == 200
    assert [item["title"] for item in response.json["items"]] == titles
    assert response.json["total"] == len(titles)
    assert "content" not in response.json["items"][0]


@pytest.mark.parametrize(
    ("user", "params", "index"),
    [
        ("admin", {"category": "安全"}, "ix_knowledge_category_updated"),
        ("partner", {}, "ix_knowledge_status_updated"),  # a viewer's list: approved entries only
    ],
)
def test_filtered_lists_walk_an_index_newest_first(
    app: Flask, client: FlaskClient, auth: Any, user: str, params: dict[str, str], index: str
) -> None:
    """EXPLAIN of the page query a list sends: the filter's entries in list order, no sort of them all."""
    engine = app.extensions["mks_db"].engine
    with statements_sent(engine) as sent:
        assert client.get(BASE, query_string=params, headers=auth.headers(user)).status_code == 200
    assert index in list_page_plan(engine, sent)


def test_list_paginates_with_total(client: FlaskClient, admin: dict[str, str], corpus: list[dict[str, Any]]) -> None:
    first = client.get(BASE, query_string={"limit": 3, "sort": "updated_at"}, headers=admin).json
    second = client.get(BASE, query_string={"limit": 3, "offset": 3, "sort": "updated_at"}, headers=admin).json
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (4, 3, 0, 3)
    assert [item["title"] for item in second["items"]] == ["出来形のドローン測量"]


def test_list_updated_since(client: FlaskClient, admin: dict[str, str], corpus: list[dict[str, Any]]) -> None:
    since = corpus[2]["updated_at"]
    response = client.get(BASE, query_string={"updated_since": since, "sort": "updated_at"}, headers=admin)
    assert [item["title"] for item in response.json["items"]] == ["実行予算の見直し", "出来形のドローン測量"]


def test_list_updated_before(client: FlaskClient, admin: dict[str, str], corpus: list[dict[str, Any]]) -> None:
    before = corpus[2]["updated_at"]
    response = client.get(BASE, query_string={"updated_before": before, "sort": "updated_at"}, headers=admin)
    assert [item["title"] for item in response.json["items"]] == [corpus[0]["title"], corpus[1]["title"]]


def test_review_due_is_kept_cleared_and_filtered(client: FlaskClient, editor: dict[str, str]) -> None:
    due = [create(client, editor, title=f"見直し {day}", review_due=f"2026-12-{day:02d}") for day in (1, 2, 3)]
    undated = create(client, editor, title="見直しなし")
    assert [item["review_due"] for item in (*due, undated)] == ["2026-12-01", "2026-12-02", "2026-12-03", None]
    listed = client.get(BASE, query_string={"review_due_before": "2026-12-02", "sort": "title"}, headers=editor).json
    assert [item["title"] for item in listed["items"]] == ["見直し 1", "見直し 2"]  # that day included
    assert listed["total"] == 2

    # Cleared by null, recorded in the revision like any tracked field.
    url = f"{BASE}/{due[0]['id']}"
    response = client.put(url, json={"review_due": None}, headers=editor)
    assert (response.status_code, response.json["review_due"], response.json["version"]) == (200, None, 2)
    revisions = client.get(f"{url}/revisions", headers=editor).json["items"]
    assert revisions[0]["changed_fields"] == ["review_due"]
    assert client.get(f"{url}/revisions/1", headers=editor).json["snapshot"]["review_due"] == "2026-12-01"
    listed = client.get(BASE, query_string={"review_due_before": "2026-12-02"}, headers=editor).json
    assert [item["title"] for item in listed["items"]] == ["見直し 2"]

    response = client.get(BASE, query_string={"review_due_before": "12/02"}, headers=editor)
    assert (response.status_code, response.json["error"]["details"][0]["field"]) == (422, "review_due_before")
    response = client.post(BASE, json=entry(review_due="2026-02-30"), headers=editor)
    assert (response.status_code, response.json["error"]["details"][0]["field"]) == (422, "review_due")


def test_viewer_sees_approved_only(client: FlaskClient, viewer: dict[str, str], corpus: list[dict[str, Any]]) -> None:
    listed = client.get(BASE, query_string={"sort": "title"}, headers=viewer).json
    assert [item["title"] for item in listed["items"]] == ["足場の点検手順", "鉄筋かぶり厚さの確認"]
    draft = corpus[2]
    assert client.get(f"{BASE}/{draft['id']}", headers=viewer).status_code == 404


def test_tags_with_counts(
    client: FlaskClient, admin: dict[str, str], viewer: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    tags = client.get(f"{BASE}/tags", headers=admin).json["items"]
    assert tags[0] == {"name": "点検", "count": 2}
    assert {tag["name"]: tag["count"] for tag in tags} == {"点検": 2, "足場": 1, "鉄筋": 1, "予算": 1, "ICT": 1}
    visible = client.get(f"{BASE}/tags", headers=viewer).json["items"]
    assert {tag["name"]: tag["count"] for tag in visible} == {"点検": 1, "足場": 1, "鉄筋": 1}


def test_categories_with_counts_and_admin_may_add(
    client: FlaskClient, admin: dict[str, str], editor: dict[str, str], corpus: list[dict[str, Any]]
) -> None:
    listed = client.get("/api/v1/categories", headers=editor).json["items"]
    assert [(item["name"], item["knowledge_count"]) for item in listed] == [
        ("施工計画", 0),
        ("品質", 1),
        ("安全", 1),
        ("原価", 1),
        ("出来形", 1),
    ]
    created = client.post("/api/v1/categories", json={"name": "環境"}, headers=admin)
    assert created.status_code == 201
    assert created.json["name"] == "環境"
    assert (
        client.post("/api/v1/categories", json={"name": "環境"}, headers=admin).json["error"]["code"]
        == "category_exists"
    )
    assert create(client, editor, category="環境")["category"] == "環境"


def test_one_update_is_one_version_and_one_revision(client: FlaskClient, editor: dict[str, str], app: Flask) -> None:
    """Changing category and tags together (with other fields) bumps the version once, without a gap."""
    created = create(client, editor)
    changes = {"category": "安全", "tags": ["足場", "新しいタグ"], "title": "足場の養生", "version": 1}
    response = client.put(f"{BASE}/{created['id']}", json=changes, headers=editor)
    assert (response.status_code, response.json["version"]) == (200, 2)
    items = client.get(f"{BASE}/{created['id']}/revisions", headers=editor).json["items"]
    assert [(item["revision"], item["changed_fields"]) for item in items] == [
        (2, ["title", "category", "tags"]),
        (1, list(Knowledge.TRACKED_FIELDS)),
    ]
    with app.app_context():
        session = get_session()
        assert session.get(Knowledge, created["id"]).version == 2
        assert session.scalars(select(KnowledgeRevision.revision).order_by(KnowledgeRevision.revision)).all() == [1, 2]


def test_head_does_not_count_a_view(client: FlaskClient, editor: dict[str, str], app: Flask) -> None:
    created = create(client, editor)
    head = client.head(f"{BASE}/{created['id']}", headers=editor)
    assert (head.status_code, head.get_data()) == (200, b"")
    assert client.get(f"{BASE}/{created['id']}", headers=editor).json["view_count"] == 1
    assert client.head(f"{BASE}/{created['id']}", headers=editor).status_code == 200
    with app.app_context():
        assert get_session().get(Knowledge, created["id"]).view_count == 1


def test_the_list_filters_by_author(client: FlaskClient, editor: dict[str, str], admin: dict[str, str]) -> None:
    mine = create(client, editor, title="自分のナレッジ")
    create(client, admin, title="管理者のナレッジ")
    found = client.get(BASE, query_string={"created_by": "yamada"}, headers=admin).json
    assert [item["id"] for item in found["items"]] == [mine["id"]] and found["total"] == 1
    assert client.get(BASE, query_string={"created_by": "nobody"}, headers=admin).json["total"] == 0
