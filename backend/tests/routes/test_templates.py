"""The template API: the defaults, an entry started from one, admins' edits with their audit entries, conflicts."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from ..envelopes import field_error

TEMPLATES = "/api/v1/templates"
NEAR_MISS = {
    "name": "ヒヤリハット報告（足場）",
    "category": "安全",
    "title": "【ヒヤリハット】足場",
    "summary": "",
    "content": "## 状況\n\n",
    "tags": ["足場", "ヒヤリハット"],
    "priority": "critical",
}


def test_the_default_templates_start_an_entry(client: FlaskClient, editor: dict[str, str]) -> None:
    listed = client.get(TEMPLATES, headers=editor)
    assert listed.status_code == 200
    # By category (施工計画, 品質, 安全 in the order they were created), then name.
    assert [
        (item["name"], item["category"], item["title"], item["tags"], item["priority"]) for item in listed.json["items"]
    ] == [
        ("施工手順", "施工計画", "【施工手順】", ["施工手順"], "normal"),
        ("是正報告", "品質", "【是正報告】", ["是正", "品質"], "high"),
        ("ヒヤリハット報告", "安全", "【ヒヤリハット】", ["ヒヤリハット", "安全"], "high"),
    ]
    safety = client.get(TEMPLATES, query_string={"category": "安全"}, headers=editor).json["items"]
    assert [item["name"] for item in safety] == ["ヒヤリハット報告"]
    template = client.get(f"{TEMPLATES}/{safety[0]['id']}", headers=editor).json
    assert template == safety[0]
    assert template["content"].startswith("## 発生日時・場所\n\n- 日時:\n")

    # A new entry is the template's fields, the title completed.
    entry = {name: template[name] for name in ("category", "summary", "content", "tags", "priority")}
    response = client.post(
        "/api/v1/knowledge", json={**entry, "title": template["title"] + "開口部養生の外れ"}, headers=editor
    )
    assert response.status_code == 201, response.json
    assert {name: response.json[name] for name in (*entry, "title", "status")} == {
        **entry,
        "tags": ["ヒヤリハット", "安全"],  # code-point order, as every entry's tags
        "title": "【ヒヤリハット】開口部養生の外れ",
        "status": "draft",
    }


def test_admins_keep_the_templates(client: FlaskClient, admin: dict[str, str], editor: dict[str, str]) -> None:
    response = client.post(TEMPLATES, json=NEAR_MISS, headers=admin)
    assert response.status_code == 201, response.json
    created: dict[str, Any] = response.json
    assert created == {
        **NEAR_MISS,
        "id": created["id"],
        "created_at": created["created_at"],
        "updated_at": created["updated_at"],
    }
    assert created["created_at"].endswith("Z")

    changed = {**NEAR_MISS, "category": "品質", "content": "## 状況\n\n## 対策\n", "priority": "high"}
    response = client.put(f"{TEMPLATES}/{created['id']}", json=changed, headers=admin)
    assert response.status_code == 200, response.json
    assert response.json == {**created, **changed, "updated_at": response.json["updated_at"]}
    assert client.get(f"{TEMPLATES}/{created['id']}", headers=editor).json == response.json

    response = client.delete(f"{TEMPLATES}/{created['id']}", headers=admin)
    assert (response.status_code, response.data) == (204, b"")
    response = client.get(f"{TEMPLATES}/{created['id']}", headers=editor)
    assert (response.status_code, response.json["error"]["code"]) == (404, "template_not_found")
    assert created["id"] not in [item["id"] for item in client.get(TEMPLATES, headers=editor).json["items"]]

    log = client.get("/api/v1/audit", query_string={"limit": 100}, headers=admin).json["items"]
    assert [
        (item["action"], item["actor_username"], item["target_type"], item["target_id"], item["details"])
        for item in log
        if item["action"].startswith("template.")
    ] == [
        ("template.delete", "admin", "template", created["id"], {"name": NEAR_MISS["name"]}),
        (
            "template.update",
            "admin",
            "template",
            created["id"],
            {"name": NEAR_MISS["name"], "changed_fields": ["content", "priority", "category"]},
        ),
        ("template.create", "admin", "template", created["id"], {"name": NEAR_MISS["name"]}),
    ]


def test_a_taken_name_conflicts_and_an_unknown_category_is_refused(client: FlaskClient, admin: dict[str, str]) -> None:
    conflict = {
        "error": {"code": "template_exists", "message": "テンプレート「是正報告」は既に存在します。", "status": 409}
    }
    response = client.post(TEMPLATES, json={**NEAR_MISS, "name": "是正報告"}, headers=admin)
    assert (response.status_code, response.json) == (409, conflict)
    created = client.post(TEMPLATES, json=NEAR_MISS, headers=admin).json
    response = client.put(f"{TEMPLATES}/{created['id']}", json={**NEAR_MISS, "name": "是正報告"}, headers=admin)
    assert (response.status_code, response.json) == (409, conflict)
    # Nothing of the refused change was kept.
    assert client.get(f"{TEMPLATES}/{created['id']}", headers=admin).json == created

    response = client.post(TEMPLATES, json={**NEAR_MISS, "name": "新しい報告", "category": "環境"}, headers=admin)
    assert (response.status_code, response.json) == (
        422,
        field_error("body", "category", "unknown_category", "未登録のカテゴリです。"),
    )
    response = client.put(f"{TEMPLATES}/{created['id']}", json={**NEAR_MISS, "priority": "urgent"}, headers=admin)
    assert response.status_code == 422
    assert response.json["error"]["details"][0]["field"] == "priority"
    assert [item["name"] for item in client.get(TEMPLATES, headers=admin).json["items"]].count("新しい報告") == 0
