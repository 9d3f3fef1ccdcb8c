"""Every API route × every role: who may do what (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import Auth

NEW_ENTRY = {"title": "権限テスト", "category": "安全", "status": "approved"}

# (method, path, body) → allowed roles. {id} is an approved entry, {user} the viewer's user id,
# {synonym} a synonym set, {template} a template.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str], int]] = [
    ("GET", "/api/v1/knowledge", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/search?q=権限", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/tags", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/review-queue", None, {"admin", "editor"}, 200),
    ("GET", "/api/v1/knowledge/{id}", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions/1", None, {"admin", "editor", "viewer"}, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions/1/diff", None, {"admin", "editor", "viewer"}, 200),
    ("POST", "/api/v1/knowledge/{id}/revisions/1/restore", {}, {"admin", "editor"}, 200),
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
    ("GET", "/api/v1/search/synonyms", None, {"admin", "editor", "viewer"}, 200),
    ("POST", "/api/v1/search/synonyms", {"words": ["生コン", "レディーミクストコンクリート"]}, {"admin"}, 201),
    ("PUT", "/api/v1/search/synonyms/{synonym}", {"words": ["KY", "危険予知", "危険予知活動"]}, {"admin"}, 200),
    ("DELETE", "/api/v1/search/synonyms/{synonym}", None, {"admin"}, 204),
    ("GET", "/api/v1/templates", None, {"admin", "editor"}, 200),
    ("GET", "/api/v1/templates/{template}", None, {"admin", "editor"}, 200),
    ("POST", "/api/v1/templates", {"name": "是正報告（外注）", "category": "品質"}, {"admin"}, 201),
    ("PUT", "/api/v1/templates/{template}", {"name": "施工手順", "category": "施工計画"}, {"admin"}, 200),
    ("DELETE", "/api/v1/templates/{template}", None, {"admin"}, 204),
    ("POST", "/api/v1/auth/logout", None, {"admin", "editor", "viewer"}, 204),
]
USERS = {"admin": "admin", "editor": "yamada", "viewer": "partner"}


def route_url(client: FlaskClient, auth: Auth, path: str) -> tuple[str, int]:
    """The path with {id} an approved entry created for it, {user} the viewer and {synonym} a new synonym set;
    and that entry's id."""
    admin = auth.headers("admin")
    entry = client.post("/api/v1/knowledge", json=NEW_ENTRY, headers=admin).json
    viewer_id = client.get("/api/v1/auth/me", headers=auth.headers("partner")).json["id"]
    synonym_id = None
    if "{synonym}" in path:
        synonym_id = client.post("/api/v1/search/synonyms", json={"words": ["KY", "危険予知"]}, headers=admin).json[
            "id"
        ]
    # The first default template (migration 0013).
    template_id = client.get("/api/v1/templates", headers=admin).json["items"][0]["id"]
    return path.format(id=entry["id"], user=viewer_id, synonym=synonym_id, template=template_id), entry["id"]


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


SECRET_DRAFT = "社外秘: 原価 1234万円"
KNOWLEDGE = "/api/v1/knowledge"


def test_viewer_reads_approved_revisions_only(client: FlaskClient, auth: Auth) -> None:
    """Text that was never approved stays hidden from partners, in the list and by number, later too."""
    editor, viewer = auth.headers("yamada"), auth.headers("partner")
    created = client.post(
        KNOWLEDGE, json={"title": "原価の見直し", "category": "原価", "content": SECRET_DRAFT}, headers=editor
    ).json
    url = f"{KNOWLEDGE}/{created['id']}"
    for change in (
        {"content": "公開用の本文"},  # 2: draft
        {"status": "review"},  # 3
        {"status": "approved"},  # 4: the first approved text
        {"status": "review"},  # 5
        {"content": "改訂した本文"},  # 6: review
        {"status": "approved"},  # 7
    ):
        assert client.put(url, json=change, headers=editor).status_code == 200
    assert [item["revision"] for item in client.get(f"{url}/revisions", headers=editor).json["items"]] == [
        7,
        6,
        5,
        4,
        3,
        2,
        1,
    ]
    assert client.get(f"{url}/revisions/1", headers=editor).json["snapshot"]["content"] == SECRET_DRAFT

    listed = client.get(f"{url}/revisions", headers=viewer)
    assert listed.status_code == 200
    # Each item says what changed since the previous revision the viewer may read, never since a hidden one.
    assert [(item["revision"], item["changed_fields"]) for item in listed.json["items"]] == [
        (7, ["content"]),
        (
            4,
            [
                "title",
                "summary",
                "content",
                "category",
                "tags",
                "status",
                "priority",
                "project_code",
                "owner_department",
                "review_due",
            ],
        ),
    ]
    assert SECRET_DRAFT not in listed.get_data(as_text=True)
    missing = client.get(f"{url}/revisions/99", headers=viewer)
    for hidden in (1, 2, 3, 5, 6):
        response = client.get(f"{url}/revisions/{hidden}", headers=viewer)
        # The same answer as for a revision that does not exist: no way to tell hidden from missing.
        assert (response.status_code, response.json) == (404, missing.json)
    assert missing.json["error"]["code"] == "revision_not_found"
    shown = client.get(f"{url}/revisions/4", headers=viewer).json
    assert (shown["snapshot"]["content"], shown["changed_fields"]) == (
        "公開用の本文",
        listed.json["items"][1]["changed_fields"],
    )
    latest = client.get(f"{url}/revisions/7", headers=viewer).json
    assert (latest["snapshot"]["content"], latest["changed_fields"]) == ("改訂した本文", ["content"])
    # The editor still reads every revision as recorded.
    assert client.get(f"{url}/revisions/7", headers=editor).json["changed_fields"] == ["status"]


def test_category_counts_are_per_caller(client: FlaskClient, auth: Auth) -> None:
    """A partner's category counts include only the approved entries they can see, as /tags does."""
    admin = auth.headers("admin")
    for category, status in [("安全", "approved"), ("安全", "draft"), ("品質", "review"), ("原価", "approved")]:
        body = {"title": f"{category}の{status}", "category": category, "status": status}
        assert client.post(KNOWLEDGE, json=body, headers=admin).status_code == 201
    counts = {
        role: {
            item["name"]: item["knowledge_count"]
            for item in client.get("/api/v1/categories", headers=auth.headers(user)).json["items"]
        }
        for role, user in USERS.items()
    }
    everything = {"施工計画": 0, "品質": 1, "安全": 2, "原価": 1, "出来形": 0}
    assert counts == {
        "admin": everything,
        "editor": everything,
        "viewer": {"施工計画": 0, "品質": 0, "安全": 1, "原価": 1, "出来形": 0},
    }
