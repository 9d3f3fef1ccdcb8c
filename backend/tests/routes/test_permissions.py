"""Every API route × every role: who may do what (table-driven)."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ..conftest import Auth
from ..test_files import photo
from ..transfer import CSV, imported
from ..workflow import created_in, step

NEW_ENTRY = {"title": "権限テスト", "category": "安全"}
# The body of an upload route: sent as multipart/form-data (see request_body), not as JSON.
UPLOAD = {"file": "photo.jpg"}
IMPORT_UPLOAD = {"file": "upstream.csv"}
ALL = {"admin", "approver", "editor", "viewer"}
WRITERS = {"admin", "approver", "editor"}
APPROVERS = {"admin", "approver"}

# (method, path, body) → allowed roles. {id} is an approved entry (version 3), {draft} yamada's draft
# (version 1), {review} yamada's entry in review (version 2), {archived} an archived entry (version 2),
# {attachment} a photo of an approved entry, added before its approval, {user} the viewer's user id,
# {synonym} a synonym set, {template} a template, {import} a finished import.
ROUTES: list[tuple[str, str, dict[str, Any] | None, set[str], int]] = [
    ("GET", "/api/v1/knowledge", None, ALL, 200),
    ("GET", "/api/v1/knowledge/search?q=権限", None, ALL, 200),
    ("GET", "/api/v1/knowledge/tags", None, ALL, 200),
    ("GET", "/api/v1/knowledge/review-queue", None, WRITERS, 200),
    ("GET", "/api/v1/knowledge/{id}", None, ALL, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions", None, ALL, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions/3", None, ALL, 200),
    ("GET", "/api/v1/knowledge/{id}/revisions/3/diff", None, ALL, 200),
    ("POST", "/api/v1/knowledge/{id}/revisions/3/restore", {}, WRITERS, 200),
    ("GET", "/api/v1/categories", None, ALL, 200),
    ("GET", "/api/v1/auth/me", None, ALL, 200),
    ("POST", "/api/v1/knowledge", NEW_ENTRY, WRITERS, 201),
    ("PUT", "/api/v1/knowledge/{id}", {"summary": "更新"}, WRITERS, 200),
    ("DELETE", "/api/v1/knowledge/{id}", None, {"admin"}, 204),
    ("POST", "/api/v1/knowledge/{draft}/submit", {"version": 1}, WRITERS, 200),
    ("POST", "/api/v1/knowledge/{review}/approve", {"version": 2, "comment": "確認しました"}, APPROVERS, 200),
    ("POST", "/api/v1/knowledge/{review}/send-back", {"version": 2, "reason": "根拠の記載がない"}, APPROVERS, 200),
    ("POST", "/api/v1/knowledge/{id}/archive", {"version": 3}, APPROVERS, 200),
    ("POST", "/api/v1/knowledge/{archived}/unarchive", {"version": 2}, APPROVERS, 200),
    ("POST", "/api/v1/knowledge/{draft}/attachments", UPLOAD, WRITERS, 201),
    ("GET", "/api/v1/knowledge/{id}/attachments", None, ALL, 200),
    ("GET", "/api/v1/attachments/{attachment}", None, ALL, 200),
    ("GET", "/api/v1/attachments/{attachment}/thumbnail", None, ALL, 200),
    ("DELETE", "/api/v1/attachments/{attachment}", None, WRITERS, 204),
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
    ("GET", "/api/v1/search/synonyms", None, ALL, 200),
    ("POST", "/api/v1/search/synonyms", {"words": ["生コン", "レディーミクストコンクリート"]}, {"admin"}, 201),
    ("PUT", "/api/v1/search/synonyms/{synonym}", {"words": ["KY", "危険予知", "危険予知活動"]}, {"admin"}, 200),
    ("DELETE", "/api/v1/search/synonyms/{synonym}", None, {"admin"}, 204),
    ("GET", "/api/v1/templates", None, WRITERS, 200),
    ("GET", "/api/v1/templates/{template}", None, WRITERS, 200),
    ("POST", "/api/v1/templates", {"name": "是正報告（外注）", "category": "品質"}, {"admin"}, 201),
    ("PUT", "/api/v1/templates/{template}", {"name": "施工手順", "category": "施工計画"}, {"admin"}, 200),
    ("DELETE", "/api/v1/templates/{template}", None, {"admin"}, 204),
    ("POST", "/api/v1/imports", IMPORT_UPLOAD, {"admin"}, 202),
    ("GET", "/api/v1/imports/{import}", None, {"admin"}, 200),
    ("GET", "/api/v1/export", None, {"admin"}, 200),
    ("POST", "/api/v1/auth/logout", None, ALL, 204),
]
_synonym_numbers = itertools.count(1)
USERS = {"admin": "admin", "approver": "kimura", "editor": "yamada", "viewer": "partner"}
# The status and author of the entry each placeholder of a path stands for.
ENTRY_PLACEHOLDERS = {"id": ("approved", "admin"), "draft": ("draft", "yamada"), "review": ("review", "yamada")}
ENTRY_PLACEHOLDERS["archived"] = ("archived", "admin")


def request_body(body: dict[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments of client.open that send the body: a photo as multipart for UPLOAD, a CSV file
    for IMPORT_UPLOAD, else JSON."""
    if body is UPLOAD:
        return {"data": {"file": (io.BytesIO(photo()), "photo.jpg")}, "content_type": "multipart/form-data"}
    if body is IMPORT_UPLOAD:
        return {"data": {"file": (io.BytesIO(CSV.encode()), "upstream.csv")}, "content_type": "multipart/form-data"}
    return {"json": body}


def _photographed(client: FlaskClient, auth: Auth) -> int:
    """A photo attached to yamada's entry before kimura approved it: every role may see it."""
    editor, approver = auth.headers("yamada"), auth.headers("kimura")
    entry = created_in(client, editor, approver, "draft", **NEW_ENTRY)
    attached = client.post(f"/api/v1/knowledge/{entry['id']}/attachments", headers=editor, **request_body(UPLOAD))
    step(
        client,
        approver,
        step(client, editor, client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json, "submit"),
        "approve",
    )
    return int(attached.json["id"])


def route_url(client: FlaskClient, auth: Auth, path: str) -> tuple[str, int | None]:
    """The path with its entry placeholder an entry created for it (see ROUTES), {user} the viewer and
    {synonym} a new synonym set; and the id of the entry (or attachment) it names."""
    admin = auth.headers("admin")
    entries: dict[str, int] = {}
    for name, (status, author) in ENTRY_PLACEHOLDERS.items():
        if f"{{{name}}}" in path:
            entries[name] = created_in(client, auth.headers(author), auth.headers("kimura"), status, **NEW_ENTRY)["id"]
    if "{attachment}" in path:
        entries["attachment"] = _photographed(client, auth)
    if "{import}" in path:
        entries["import"] = imported(client, admin)["id"]
    viewer_id = client.get("/api/v1/auth/me", headers=auth.headers("partner")).json["id"]
    synonym_id = None
    if "{synonym}" in path:
        number = next(_synonym_numbers)  # each call its own words: a word belongs to one set only
        words = {"words": [f"KY{number}", f"危険予知{number}"]}
        synonym_id = client.post("/api/v1/search/synonyms", json=words, headers=admin).json["id"]
    # The first default template (migration 0013).
    template_id = client.get("/api/v1/templates", headers=admin).json["items"][0]["id"]
    url = path.format(user=viewer_id, synonym=synonym_id, template=template_id, **entries)
    return url, next(iter(entries.values()), None)


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed", "success"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
def test_route_access(
    app: Flask,
    client: FlaskClient,
    auth: Auth,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    allowed: set[str],
    success: int,
) -> None:
    """Every role, and no token, each against entities created for it alone, on one database per route."""
    answers: dict[str, tuple[int, str | None]] = {}
    for role in [*USERS, "anonymous"]:
        url, _entry_id = route_url(client, auth, path)
        headers = auth.headers(USERS[role]) if role != "anonymous" else {}
        with client.open(url, method=method, headers=headers, **request_body(body)) as response:
            code = response.json["error"]["code"] if response.status_code >= 400 else None
            answers[role] = (response.status_code, code)
    expected = {role: (success, None) if role in allowed else (403, "forbidden") for role in USERS}
    assert answers == {**expected, "anonymous": (401, "token_missing")}


SECRET_DRAFT = "社外秘: 原価 1234万円"
KNOWLEDGE = "/api/v1/knowledge"


def test_viewer_reads_approved_revisions_only(client: FlaskClient, auth: Auth) -> None:
    """Text that was never approved stays hidden from partners, in the list and by number, later too."""
    editor, approver, viewer = auth.headers("yamada"), auth.headers("kimura"), auth.headers("partner")
    created = client.post(
        KNOWLEDGE, json={"title": "原価の見直し", "category": "原価", "content": SECRET_DRAFT}, headers=editor
    ).json
    url = f"{KNOWLEDGE}/{created['id']}"
    for change in (
        {"content": "公開用の本文"},  # 2: draft
        "submit",  # 3
        "approve",  # 4: the first approved text
        {"content": "改訂した本文"},  # 5: a pending change, in draft
        "submit",  # 6
        "approve",  # 7
    ):
        if isinstance(change, dict):
            assert client.put(url, json=change, headers=editor).status_code == 200
        else:
            step(client, approver if change == "approve" else editor, client.get(url, headers=editor).json, change)
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
        created_in(client, admin, auth.headers("kimura"), status, title=f"{category}の{status}", category=category)
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
        "approver": everything,
        "editor": everything,
        "viewer": {"施工計画": 0, "品質": 0, "安全": 1, "原価": 1, "出来形": 0},
    }
