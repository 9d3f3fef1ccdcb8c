"""The review queue through the API: who submitted each entry in review, and when, longest waiting first."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

BASE = "/api/v1/knowledge"
QUEUE = f"{BASE}/review-queue"


def created(client: FlaskClient, headers: dict[str, str], title: str, status: str) -> dict[str, Any]:
    response = client.post(BASE, json={"title": title, "category": "安全", "status": status}, headers=headers)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


def put(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], change: dict[str, Any]) -> None:
    assert client.put(f"{BASE}/{entry['id']}", json=change, headers=headers).status_code == 200


def saved_at(client: FlaskClient, headers: dict[str, str], entry: dict[str, Any], revision: int) -> str:
    return client.get(f"{BASE}/{entry['id']}/revisions/{revision}", headers=headers).json["changed_at"]  # type: ignore[no-any-return]


def test_the_queue_is_the_entries_in_review_longest_waiting_first(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    resubmitted = created(client, editor, "差戻し後に再依頼", "review")  # 1: submitted first, then sent back
    at_creation = created(client, editor, "作成時にレビュー依頼", "review")  # 1
    by_admin = created(client, admin, "管理者が依頼", "draft")
    put(client, admin, by_admin, {"status": "review"})  # 2
    edited = created(client, editor, "レビュー中に修正", "draft")
    put(client, editor, edited, {"status": "review"})  # 2
    put(client, admin, edited, {"summary": "誤字を修正"})  # 3: still waiting since 2
    created(client, editor, "承認済み", "approved")
    put(client, admin, resubmitted, {"status": "draft"})  # 2: sent back
    put(client, editor, resubmitted, {"status": "review"})  # 3: submitted again, waits from now

    queue = client.get(QUEUE, headers=admin)
    assert queue.status_code == 200, queue.json
    assert (queue.json["total"], queue.json["limit"], queue.json["offset"]) == (4, 20, 0)
    assert [
        (item["title"], item["status"], item["submitted_by"]["username"], item["submitted_at"])
        for item in queue.json["items"]
    ] == [
        ("作成時にレビュー依頼", "review", "yamada", saved_at(client, admin, at_creation, 1)),
        ("管理者が依頼", "review", "admin", saved_at(client, admin, by_admin, 2)),
        ("レビュー中に修正", "review", "yamada", saved_at(client, admin, edited, 2)),
        ("差戻し後に再依頼", "review", "yamada", saved_at(client, admin, resubmitted, 3)),
    ]
    page = client.get(QUEUE, query_string={"limit": 2, "offset": 2}, headers=editor).json
    assert [item["title"] for item in page["items"]] == ["レビュー中に修正", "差戻し後に再依頼"]
    assert page["total"] == 4
    beyond = client.get(QUEUE, query_string={"offset": 4}, headers=editor).json
    assert (beyond["items"], beyond["total"]) == ([], 4)
