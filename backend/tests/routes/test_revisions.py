"""Revision diffs and restores through the API: exact fields and line runs, what a partner may compare, audit."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from ..workflow import publish, step

BASE = "/api/v1/knowledge"
FIRST = {
    "title": "型枠の解体時期",
    "summary": "",
    "content": "## 確認\n存置期間を確認する\n強度試験の結果を見る",
    "category": "品質",
    "tags": ["型枠"],
}


def written(client: FlaskClient, headers: dict[str, str], url: str, change: dict[str, Any]) -> dict[str, Any]:
    response = client.put(url, json=change, headers=headers)
    assert response.status_code == 200, response.json
    return response.json  # type: ignore[no-any-return]


def test_a_diff_names_each_changed_field_and_the_body_line_by_line(client: FlaskClient, editor: dict[str, str]) -> None:
    created = client.post(BASE, json=FIRST, headers=editor).json
    url = f"{BASE}/{created['id']}"
    written(
        client,
        editor,
        url,
        {
            "title": "型枠の解体時期と順序",
            "content": "## 確認\n存置期間を表で確認する\n強度試験の結果を見る\n解体は上から",
        },
    )  # 2
    written(client, editor, url, {"tags": ["型枠", "解体"], "priority": "high"})  # 3

    response = client.get(f"{url}/revisions/3/diff", query_string={"against": 1}, headers=editor)
    assert response.status_code == 200, response.json
    assert response.json == {
        "base": 1,
        "target": 3,
        "fields": [
            {"field": "title", "before": "型枠の解体時期", "after": "型枠の解体時期と順序"},
            {"field": "tags", "before": ["型枠"], "after": ["型枠", "解体"]},
            {"field": "priority", "before": "normal", "after": "high"},
        ],
        "content": [
            {"op": "equal", "lines": ["## 確認"]},
            {"op": "delete", "lines": ["存置期間を確認する"]},
            {"op": "insert", "lines": ["存置期間を表で確認する"]},
            {"op": "equal", "lines": ["強度試験の結果を見る"]},
            {"op": "insert", "lines": ["解体は上から"]},
        ],
    }
    # By default against the revision before; the first against nothing.
    assert client.get(f"{url}/revisions/3/diff", headers=editor).json["fields"] == [
        {"field": "tags", "before": ["型枠"], "after": ["型枠", "解体"]},
        {"field": "priority", "before": "normal", "after": "high"},
    ]
    first = client.get(f"{url}/revisions/1/diff", headers=editor).json
    assert (first["base"], first["content"]) == (0, [{"op": "insert", "lines": FIRST["content"].splitlines()}])
    assert [change["field"] for change in first["fields"]] == [
        "title",
        "summary",
        "category",
        "tags",
        "status",
        "priority",
    ]

    for path, query, code in (
        ("revisions/4/diff", {}, "revision_not_found"),
        ("revisions/3/diff", {"against": 9}, "revision_not_found"),
        ("revisions/3/diff", {"against": "approved"}, "approved_revision_not_found"),
    ):
        response = client.get(f"{url}/{path}", query_string=query, headers=editor)
        assert (response.status_code, response.json["error"]["code"]) == (404, code)
    response = client.get(f"{url}/revisions/3/diff", query_string={"against": "latest"}, headers=editor)
    assert (response.status_code, response.json["error"]["details"][0]["field"]) == (422, "against")


def test_a_partner_compares_approved_revisions_only(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str], viewer: dict[str, str]
) -> None:
    created = publish(client, editor, admin, **FIRST)  # 1 draft, 2 review, 3 approved
    url = f"{BASE}/{created['id']}"
    written(client, editor, url, {"content": "社外秘の下書き"})  # 4: a pending change
    submitted = step(client, editor, written(client, editor, url, {"content": "承認した本文"}), "submit")  # 5, 6
    step(client, admin, submitted, "approve")  # 7

    # The partner's diff of 7 skips the hidden 4-6: against 3, and the draft text is in neither.
    seen = client.get(f"{url}/revisions/7/diff", headers=viewer).json
    assert (seen["base"], seen["target"], seen["fields"]) == (3, 7, [])
    assert seen["content"] == [
        {"op": "delete", "lines": FIRST["content"].splitlines()},
        {"op": "insert", "lines": ["承認した本文"]},
    ]
    hidden = client.get(f"{url}/revisions/7/diff", query_string={"against": 4}, headers=viewer)
    assert (hidden.status_code, hidden.json["error"]["code"]) == (404, "revision_not_found")
    assert "社外秘" not in hidden.get_data(as_text=True)

    # The editor compares the next pending change with what partners read now.
    written(client, editor, url, {"content": "次の下書き"})  # 8
    against_approved = client.get(f"{url}/revisions/8/diff", query_string={"against": "approved"}, headers=editor)
    assert (against_approved.json["base"], against_approved.json["content"]) == (
        7,
        [{"op": "delete", "lines": ["承認した本文"]}, {"op": "insert", "lines": ["次の下書き"]}],
    )
    # Partners go on reading the approved text, and the pending change stays hidden from them.
    assert client.get(f"{url}/revisions/7/diff", headers=viewer).status_code == 200
    response = client.get(f"{url}/revisions/8/diff", query_string={"against": "approved"}, headers=viewer)
    assert (response.status_code, response.json["error"]["code"]) == (404, "revision_not_found")


def test_restoring_a_revision_records_a_new_one(
    client: FlaskClient, editor: dict[str, str], admin: dict[str, str]
) -> None:
    created = client.post(BASE, json={**FIRST, "review_due": "2027-04-01"}, headers=editor).json  # 1
    url = f"{BASE}/{created['id']}"
    written(client, editor, url, {"title": "誤った編集", "content": "消えた本文"})  # 2

    stale = client.post(f"{url}/revisions/1/restore", json={"version": 1}, headers=editor)
    assert (stale.status_code, stale.json["error"]["code"]) == (409, "version_conflict")
    response = client.post(f"{url}/revisions/1/restore", json={"version": 2}, headers=editor)
    assert response.status_code == 200, response.json
    restored = response.json
    assert {name: restored[name] for name in ("title", "content", "tags", "review_due", "status", "version")} == {
        "title": FIRST["title"],
        "content": FIRST["content"],
        "tags": FIRST["tags"],
        "review_due": "2027-04-01",
        "status": "draft",
        "version": 3,
    }
    history = client.get(f"{url}/revisions", headers=editor).json["items"]
    assert [(item["revision"], item["changed_fields"]) for item in history[:1]] == [(3, ["title", "content"])]
    # The same again changes nothing: no new revision.
    again = client.post(f"{url}/revisions/1/restore", json={}, headers=editor)
    assert (again.status_code, again.json["version"]) == (200, 3)

    log = client.get("/api/v1/audit", query_string={"action": "knowledge.update"}, headers=admin).json["items"]
    assert [item["details"] for item in log if item["target_id"] == created["id"]] == [
        {"changed_fields": ["title", "content"], "version": 3, "restored_from": 1},
        {"changed_fields": ["title", "content"], "version": 2},
    ]
    missing = client.post(f"{url}/revisions/9/restore", json={}, headers=editor)
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "revision_not_found")
