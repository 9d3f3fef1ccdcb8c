"""The audit log records who did what, when and from where, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from ..conftest import PASSWORDS, Auth

AUDIT = "/api/v1/audit"


def actions(client: FlaskClient, admin: dict[str, str], **params: Any) -> list[tuple[str, str | None, int | None]]:
    page = client.get(AUDIT, query_string=params, headers=admin).json
    return [(item["action"], item["actor_username"], item["target_id"]) for item in page["items"]]


def test_changes_logins_and_role_changes_are_audited(client: FlaskClient, auth: Auth) -> None:
    admin = auth.headers("admin")  # auth.login admin
    editor = auth.headers("yamada")  # auth.login yamada
    client.post("/api/v1/auth/login", json={"username": "yamada", "password": "wrong"})
    created = client.post("/api/v1/knowledge", json={"title": "監査", "category": "安全"}, headers=editor).json
    client.put(f"/api/v1/knowledge/{created['id']}", json={"summary": "更新", "version": 1}, headers=editor)
    stale = client.put(f"/api/v1/knowledge/{created['id']}", json={"summary": "競合", "version": 1}, headers=editor)
    assert stale.status_code == 409  # refused: must leave no audit entry
    client.delete(f"/api/v1/knowledge/{created['id']}", headers=admin)
    partner_id = client.get("/api/v1/auth/me", headers=auth.headers("partner")).json["id"]  # auth.login partner
    client.patch(f"/api/v1/users/{partner_id}", json={"role": "editor"}, headers=admin)
    client.post("/api/v1/categories", json={"name": "環境"}, headers=admin)
    client.post("/api/v1/auth/logout", headers=editor)
    kid = created["id"]
    assert actions(client, admin, limit=100) == [
        ("auth.logout", "yamada", None),
        ("category.create", "admin", 6),
        ("user.update", "admin", partner_id),
        ("user.role_change", "admin", partner_id),
        ("auth.login", "partner", None),
        ("knowledge.delete", "admin", kid),
        ("knowledge.update", "yamada", kid),
        ("knowledge.create", "yamada", kid),
        ("auth.login_failed", "yamada", None),
        ("auth.login", "yamada", None),
        ("auth.login", "admin", None),
        # the fixture's four accounts, created without an acting admin
        ("user.create", None, partner_id),
        ("user.create", None, partner_id - 1),
        ("user.create", None, partner_id - 2),
        ("user.create", None, partner_id - 3),
    ]


def test_entries_say_what_and_from_where(client: FlaskClient, admin: dict[str, str], auth: Auth) -> None:
    partner_id = client.get("/api/v1/auth/me", headers=auth.headers("partner")).json["id"]
    client.patch(f"/api/v1/users/{partner_id}", json={"role": "editor"}, headers=admin)
    entry = client.get(AUDIT, query_string={"action": "user.role_change"}, headers=admin).json["items"][0]
    assert entry["details"] == {"old": "viewer", "new": "editor"}
    assert entry["client_address"] == "127.0.0.1"
    assert entry["at"].endswith("Z")
    failed = client.post(
        "/api/v1/auth/login", json={"username": "ghost", "password": "x"}, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert failed.status_code == 401
    attempt = client.get(AUDIT, query_string={"action": "auth.login_failed"}, headers=admin).json["items"][0]
    assert (attempt["actor_id"], attempt["actor_username"], attempt["client_address"]) == (None, "ghost", "192.0.2.7")
    assert attempt["details"] == {"reason": "failure"}
    assert PASSWORDS["admin"] not in str(client.get(AUDIT, query_string={"limit": 100}, headers=admin).json)


def test_filters_and_pagination(client: FlaskClient, admin: dict[str, str], editor: dict[str, str]) -> None:
    for title in ("一", "二", "三"):
        client.post("/api/v1/knowledge", json={"title": title, "category": "安全"}, headers=editor)
    page = client.get(AUDIT, query_string={"action": "knowledge.create", "limit": 2}, headers=admin).json
    assert (page["total"], len(page["items"])) == (3, 2)
    assert [item["details"]["title"] for item in page["items"]] == ["三", "二"]
    assert client.get(AUDIT, query_string={"actor": "yamada"}, headers=admin).json["total"] == 4  # login + 3 creates
    bad = client.get(AUDIT, query_string={"action": "hack"}, headers=admin)
    assert (bad.status_code, bad.json["error"]["details"][0]["field"]) == (422, "action")
