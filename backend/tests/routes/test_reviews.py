"""The review workflow through the API: its steps, four eyes, an approved entry's pending change, the queue."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from mks import migrate

from ..workflow import created_in, publish, step

BASE = "/api/v1/knowledge"
QUEUE = f"{BASE}/review-queue"
AUDIT = "/api/v1/audit"
SENT_BACK_FOR = "存置期間の根拠（仕様書の条項）を追記してください"
FIRST = {"title": "型枠の解体時期", "content": "存置期間を確認する", "category": "品質", "tags": ["型枠"]}


def created(client: FlaskClient, headers: dict[str, str], title: str) -> dict[str, Any]:
    response = client.post(BASE, json={"title": title, "category": "安全"}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def put(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    response = client.put(f"{BASE}/{entry['id']}", json=change, headers=headers)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def refused(
    client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], name: str, **body: Any
) -> tuple[int, str]:
    response = client.post(f"{BASE}/{entry['id']}/{name}", json={"version": entry["version"], **body}, headers=headers)
    return response.status_code, response.json["error"]["code"]


def history(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    items = client.get(f"{BASE}/{entry['id']}/revisions", headers=headers).json["items"]
    return [(item["revision"], item["status"], item["changed_by"]["username"], item["comment"]) for item in items]


def test_an_entry_is_submitted_sent_back_with_a_reason_and_approved_with_a_comment(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = client.post(BASE, json=FIRST, headers=editor).json  # 1
    assert entry["status"] == "draft"
    entry = step(client, editor, entry, "submit", comment="確認をお願いします")  # 2
    assert (entry["status"], entry["version"]) == ("review", 2)
    assert client.get(f"{BASE}/{entry['id']}", headers=viewer).status_code == 404
    assert refused(client, approver, entry, "send-back") == (422, "validation_error")  # the reason is required
    assert refused(client, approver, entry, "send-back", reason="  ") == (422, "validation_error")
    entry = step(client, approver, entry, "send-back", reason=SENT_BACK_FOR)  # 3
    assert entry["status"] == "draft"
    entry = put(client, editor, entry, {"content": "存置期間を確認する（公共建築工事標準仕様書 6.8.3）"})  # 4
    entry = step(client, editor, entry, "submit")  # 5
    entry = step(client, approver, entry, "approve", comment="根拠を確認しました")  # 6
    assert (entry["status"], entry["version"], entry["updated_by"]["username"]) == ("approved", 6, "kimura")
    assert client.get(f"{BASE}/{entry['id']}", headers=viewer).json["content"].endswith("6.8.3）")

    assert history(client, editor, entry) == [
        (6, "approved", "kimura", "根拠を確認しました"),
        (5, "review", "yamada", None),
        (4, "draft", "yamada", None),
        (3, "draft", "kimura", SENT_BACK_FOR),
        (2, "review", "yamada", "確認をお願いします"),
        (1, "draft", "yamada", None),
    ]
    # A partner's history has the approval and its comment only: the reason of the send-back is not theirs.
    assert history(client, viewer, entry) == [(6, "approved", "kimura", "根拠を確認しました")]
    log = client.get(AUDIT, query_string={"limit": 10}, headers=admin).json["items"]
    steps = [
        (item["action"], item["actor_username"], item["details"]) for item in log if item["target_id"] == entry["id"]
    ]
    assert steps[:4] == [
        ("knowledge.approve", "kimura", {"version": 6, "comment": "根拠を確認しました"}),
        ("knowledge.submit", "yamada", {"version": 5}),
        ("knowledge.update", "yamada", {"changed_fields": ["content"], "version": 4}),
        (
            "knowledge.send_back",
            "kimura",
            {"version": 3, "comment": "存置期間の根拠（仕様書の条項）を追記してください"},
        ),
    ]


def test_nobody_approves_a_change_they_wrote(
    client: FlaskClient, approver: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = step(client, approver, client.post(BASE, json=FIRST, headers=approver).json, "submit")
    assert refused(client, approver, entry, "approve") == (403, "own_change")
    assert client.get(f"{BASE}/{entry['id']}", headers=admin).json["status"] == "review"  # nothing changed
    assert client.get(f"{BASE}/{entry['id']}/revisions", headers=admin).json["items"][0]["revision"] == 2
    # An approver who corrects the text during the review becomes one of its authors.
    entry = put(client, admin, entry, {"summary": "誤字を修正"})
    assert refused(client, admin, entry, "approve") == (403, "own_change")
    assert refused(client, approver, entry, "approve") == (403, "own_change")
    entry = step(client, admin, entry, "send-back", reason="承認者が二人とも書き手になったため、別の承認者へ")
    entry = step(client, admin, entry, "submit")
    assert refused(client, admin, entry, "approve") == (403, "own_change")

    # Authors count since the last approval only: the first author may approve the next change of another.
    published = publish(client, approver, admin, **FIRST)
    changed = step(client, admin, put(client, admin, published, {"title": "型枠の解体時期と順序"}), "submit")
    assert refused(client, admin, changed, "approve") == (403, "own_change")
    approved = step(client, approver, changed, "approve")
    assert client.get(f"{BASE}/{approved['id']}", headers=viewer).json["title"] == "型枠の解体時期と順序"


def test_an_approved_entry_serves_its_approved_text_while_a_change_waits(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = publish(client, editor, admin, **FIRST)  # 1-3
    url = f"{BASE}/{entry['id']}"
    entry = put(
        client, editor, entry, {"title": "型枠の早期解体", "content": "社外秘: 工期短縮のため解体を前倒し"}
    )  # 4
    assert (entry["status"], entry["title"], entry["version"]) == ("approved", FIRST["title"], 4)
    assert {name: entry["pending"][name] for name in ("revision", "status", "title", "tags")} == {
        "revision": 4,
        "status": "draft",
        "title": "型枠の早期解体",
        "tags": ["型枠"],
    }
    assert entry["pending"]["changed_by"]["username"] == "yamada"

    # Partners read the approved text everywhere, and never learn of the change.
    seen = client.get(url, headers=viewer).json
    assert (seen["title"], seen["content"], seen["pending"]) == (FIRST["title"], FIRST["content"], None)
    listed = client.get(BASE, headers=viewer).json["items"]
    assert [item["title"] for item in listed] == [FIRST["title"]]
    assert client.get(f"{BASE}/search", query_string={"q": "前倒し"}, headers=viewer).json["total"] == 0
    assert client.get(f"{BASE}/search", query_string={"q": "存置期間"}, headers=viewer).json["total"] == 1
    assert [item["revision"] for item in client.get(f"{url}/revisions", headers=viewer).json["items"]] == [3]
    assert "社外秘" not in client.get(f"{url}/revisions", headers=viewer).get_data(as_text=True)

    # Writers see it, edit it further (each edit a revision), and compare it with the approved text.
    assert client.get(url, headers=editor).json["pending"]["content"] == "社外秘: 工期短縮のため解体を前倒し"
    entry = put(client, admin, entry, {"content": "強度を確認してから解体を前倒しする"})  # 5
    assert (entry["pending"]["revision"], entry["pending"]["changed_by"]["username"]) == (5, "admin")
    diff = client.get(f"{url}/revisions/5/diff", query_string={"against": "approved"}, headers=editor).json
    assert (diff["base"], [change["field"] for change in diff["fields"]]) == (3, ["title", "status"])
    # Restoring the approved revision is an edit like any other: it waits as well.
    restored = client.post(f"{url}/revisions/3/restore", json={"version": 5}, headers=editor).json  # 6
    assert (restored["pending"]["title"], restored["pending"]["revision"]) == (FIRST["title"], 6)
    entry = put(client, editor, restored, {"title": "型枠の早期解体"})  # 7

    entry = step(client, editor, entry, "submit")  # 8
    assert (entry["status"], entry["pending"]["status"]) == ("approved", "review")
    assert [item["id"] for item in client.get(QUEUE, headers=admin).json["items"]] == [entry["id"]]
    assert refused(client, admin, entry, "approve") == (403, "own_change")  # admin wrote revision 5
    entry = step(client, admin, entry, "send-back", reason="工期短縮の根拠がありません")  # 9
    assert (entry["pending"]["status"], entry["pending"]["revision"]) == ("draft", 9)
    assert client.get(QUEUE, headers=admin).json["total"] == 0
    assert client.get(url, headers=viewer).json["title"] == FIRST["title"]


def test_approving_a_pending_change_publishes_it(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = publish(client, editor, admin, **FIRST)
    url = f"{BASE}/{entry['id']}"
    entry = put(
        client, editor, entry, {"title": "型枠の解体と転用", "tags": ["型枠", "転用"], "review_due": "2027-06-30"}
    )
    entry = step(client, admin, step(client, editor, entry, "submit"), "approve", comment="転用の手順を確認")  # 4-6
    assert (entry["status"], entry["pending"], entry["title"], entry["version"]) == (
        "approved",
        None,
        "型枠の解体と転用",
        6,
    )
    seen = client.get(url, headers=viewer).json
    assert (seen["title"], seen["tags"], seen["review_due"]) == ("型枠の解体と転用", ["型枠", "転用"], "2027-06-30")
    found = client.get(f"{BASE}/search", query_string={"q": "転用"}, headers=viewer).json
    assert [item["id"] for item in found["items"]] == [entry["id"]]
    assert client.get(f"{url}/revisions/6", headers=viewer).json["changed_fields"] == ["title", "tags", "review_due"]


@pytest.mark.parametrize(
    ("status", "name", "message"),
    [
        ("draft", "approve", "下書きのナレッジは承認できません。"),
        ("draft", "send-back", "下書きのナレッジは差し戻せません。"),
        ("review", "submit", "レビュー中のナレッジはレビュー依頼できません。"),
        ("approved", "submit", "承認済みのナレッジはレビュー依頼できません。"),  # no pending change to submit
        ("approved", "unarchive", "承認済みのナレッジはアーカイブから戻せません。"),
        ("archived", "archive", "アーカイブ済みのナレッジはアーカイブできません。"),
    ],
)
def test_a_step_from_the_wrong_stage_is_a_conflict_and_changes_nothing(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], status: str, name: str, message: str
) -> None:
    entry = created_in(client, editor, admin, status, **FIRST)
    body = {"version": entry["version"], **({"reason": "理由"} if name == "send-back" else {})}
    response = client.post(f"{BASE}/{entry['id']}/{name}", json=body, headers=admin)
    assert (response.status_code, response.json["error"]["code"], response.json["error"]["message"]) == (
        409,
        "invalid_status_transition",
        message,
    )
    assert client.get(f"{BASE}/{entry['id']}", headers=admin).json["version"] == entry["version"]


def test_a_step_from_a_stale_version_is_a_conflict(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    """An approver approves the text they read: a change after that is not approved unseen."""
    entry = step(client, editor, client.post(BASE, json=FIRST, headers=editor).json, "submit")
    put(client, editor, entry, {"content": "承認者が読んだ後の変更"})
    response = client.post(f"{BASE}/{entry['id']}/approve", json={"version": entry["version"]}, headers=admin)
    assert (response.status_code, response.json["error"]["code"]) == (409, "version_conflict")
    assert response.json["error"]["details"] == [{"current_version": 3}]
    assert client.get(f"{BASE}/{entry['id']}", headers=admin).json["status"] == "review"


def test_archiving_hides_the_entry_and_drops_its_pending_change(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    entry = put(client, editor, publish(client, editor, admin, **FIRST), {"content": "未承認の変更"})  # 1-4
    entry = step(client, admin, entry, "archive", comment="工法の変更により廃止")  # 5
    assert (entry["status"], entry["pending"], entry["content"]) == ("archived", None, FIRST["content"])
    assert client.get(f"{BASE}/{entry['id']}", headers=viewer).status_code == 404
    entry = step(client, admin, entry, "unarchive")  # 6: a draft, to be approved again
    assert (entry["status"], entry["version"]) == ("draft", 6)
    assert client.get(f"{BASE}/{entry['id']}", headers=viewer).status_code == 404
    assert client.get(f"{BASE}/{entry['id']}/revisions/4", headers=editor).json["snapshot"]["content"] == "未承認の変更"


def test_the_queue_is_the_entries_in_review_longest_waiting_first(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    resubmitted = step(client, editor, created(client, editor, "差戻し後に再依頼"), "submit")  # 2, sent back later
    first = step(client, editor, created(client, editor, "最初の依頼"), "submit")  # 2
    by_admin = step(client, admin, created(client, admin, "管理者が依頼"), "submit")  # 2
    edited = step(client, editor, created(client, editor, "レビュー中に修正"), "submit")  # 2
    put(client, admin, edited, {"summary": "誤字を修正"})  # 3: still waiting since 2
    publish(client, editor, admin, title="承認済み", category="安全")
    resubmitted = step(client, admin, resubmitted, "send-back", reason="写真を添付してください")  # 3
    resubmitted = step(client, editor, resubmitted, "submit")  # 4: waits from now
    changed = put(client, editor, publish(client, editor, admin, title="変更案", category="安全"), {"summary": "追記"})
    changed = step(client, editor, changed, "submit")  # an approved entry's pending change: 5

    queue = client.get(QUEUE, headers=admin)
    assert queue.status_code == 200, queue.json
    assert (queue.json["total"], queue.json["limit"], queue.json["offset"]) == (5, 20, 0)
    assert [
        (item["title"], item["status"], item["version"], item["submitted_by"]["username"], item["submitted_at"])
        for item in queue.json["items"]
    ] == [
        ("最初の依頼", "review", 2, "yamada", saved_at(client, admin, first, 2)),
        ("管理者が依頼", "review", 2, "admin", saved_at(client, admin, by_admin, 2)),
        ("レビュー中に修正", "review", 3, "yamada", saved_at(client, admin, edited, 2)),
        ("差戻し後に再依頼", "review", 4, "yamada", saved_at(client, admin, resubmitted, 4)),
        ("変更案", "approved", 5, "yamada", saved_at(client, admin, changed, 5)),
    ]
    page = client.get(QUEUE, query_string={"limit": 2, "offset": 2}, headers=editor).json
    assert [item["title"] for item in page["items"]] == ["レビュー中に修正", "差戻し後に再依頼"]
    assert page["total"] == 5
    beyond = client.get(QUEUE, query_string={"offset": 5}, headers=editor).json
    assert (beyond["items"], beyond["total"]) == ([], 5)


def saved_at(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], revision: int) -> str:
    return client.get(f"{BASE}/{entry['id']}/revisions/{revision}", headers=headers).json["changed_at"]  # type: ignore[no-any-return]


def test_the_upgrade_keeps_what_partners_see(
    app: Flask, client: FlaskClient, admin: dict[str, str], approver: dict[str, str], viewer: dict[str, str]
) -> None:
    """Migration 0015 on data of the single-PUT workflow: an approved entry stays approved, one moved back to
    review stays hidden, and neither gains a pending change."""
    engine = app.extensions["mks_db"].engine
    approved = publish(client, admin, approver, **FIRST)
    moved_back = publish(client, admin, approver, **{**FIRST, "title": "差し戻された承認済み"})
    engine.dispose()
    migrate.downgrade(engine, "0014")
    with engine.begin() as connection:  # what a PUT of {"status": "review"} left under 0014
        connection.execute(text("UPDATE knowledge SET status = 'review', version = 4 WHERE id = :id"), moved_back)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, pending_revision FROM knowledge ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [(approved["id"], "approved", None), (moved_back["id"], "review", None)]
    listed = client.get(BASE, headers=viewer).json
    assert [item["title"] for item in listed["items"]] == [FIRST["title"]]
