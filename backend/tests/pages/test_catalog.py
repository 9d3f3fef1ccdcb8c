"""The admin's category and template pages: each change as the API then answers it, audited, admins only."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.pages.test_pages import csrf_of, sign_in
from tests.workflow import publish

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SEEDED_CATEGORIES = ["施工計画", "品質", "安全", "原価", "出来形"]
SEEDED_TEMPLATES = ["施工手順", "是正報告", "ヒヤリハット報告"]  # by category (施工計画, 品質, 安全), as listed


def send(client: FlaskClient, path: str, form_page: str, **fields: str) -> Any:
    """Send a form from its page, with the CSRF token that page carries."""
    return client.post(path, data={"csrf_token": csrf_of(client, form_page), **fields})


def audited(client: FlaskClient, admin: dict[str, str], action: str) -> list[tuple[Any, ...]]:
    """The audit log's entries of one action, newest first: who, on what, and the details."""
    items = client.get(f"/api/v1/audit?action={action}", headers=admin).json["items"]
    return [(item["actor_username"], item["target_type"], item["target_id"], item["details"]) for item in items]


def category_names(client: FlaskClient, admin: dict[str, str]) -> list[str]:
    return [item["name"] for item in client.get("/api/v1/categories", headers=admin).json["items"]]


def template_named(client: FlaskClient, admin: dict[str, str], name: str) -> dict[str, Any]:
    items = client.get("/api/v1/templates", headers=admin).json["items"]
    found: dict[str, Any] = next(item for item in items if item["name"] == name)
    return found


def template_names(client: FlaskClient, admin: dict[str, str]) -> list[str]:
    return [item["name"] for item in client.get("/api/v1/templates", headers=admin).json["items"]]


def without_times(template: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in template.items() if name not in ("created_at", "updated_at")}


def test_an_admin_adds_a_category_and_the_list_counts_each_ones_entries(
    client: FlaskClient, admin: dict[str, str], editor: dict[str, str], approver: dict[str, str]
) -> None:
    publish(client, editor, approver, title="足場の点検", summary="要約", content="本文")  # filed under 安全
    sign_in(client, "admin")
    added = send(client, "/admin/categories", "/admin/categories", name=" 仮設工事 ")
    assert added.status_code == 302 and added.headers["Location"] == "/admin/categories"
    listed = client.get("/api/v1/categories", headers=admin).json["items"]
    assert [item["name"] for item in listed] == [*SEEDED_CATEGORIES, "仮設工事"]
    new = listed[-1]
    assert new == {"id": new["id"], "name": "仮設工事", "knowledge_count": 0}
    safety = next(item for item in listed if item["name"] == "安全")
    page = client.get("/admin/categories").get_data(as_text=True)
    assert f'<tr id="category-{new["id"]}"><td>仮設工事</td><td>0件</td></tr>' in page
    assert f'<tr id="category-{safety["id"]}"><td>安全</td><td>1件</td></tr>' in page
    assert audited(client, admin, "category.create") == [("admin", "category", new["id"], {"name": "仮設工事"})]


def test_a_taken_or_empty_category_name_is_refused_in_japanese_and_adds_nothing(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    sign_in(client, "admin")
    taken = send(client, "/admin/categories", "/admin/categories", name="安全")
    assert taken.status_code == 409
    page = taken.get_data(as_text=True)
    assert 'value="安全" maxlength="50" required aria-invalid="true" aria-describedby="name-error">' in page
    assert '<p class="error" id="name-error">このカテゴリは既に存在します。</p>' in page
    empty = send(client, "/admin/categories", "/admin/categories", name="   ")
    assert empty.status_code == 422
    assert '<p class="error" id="name-error">短すぎます。</p>' in empty.get_data(as_text=True)
    assert category_names(client, admin) == SEEDED_CATEGORIES
    assert audited(client, admin, "category.create") == []


def test_an_admin_creates_a_template_with_every_field(client: FlaskClient, admin: dict[str, str]) -> None:
    sign_in(client, "admin")
    fields = {
        "name": "足場点検記録",
        "category": "品質",
        "title": "【足場点検】",
        "summary": "始業前の足場点検",
        "content": "## 点検項目\n\n- 手すり\n- 布板\n",
        "tags": "足場、点検,朝礼 足場",
        "priority": "critical",
    }
    created = send(client, "/admin/templates", "/admin/templates", **fields)
    assert created.status_code == 302 and created.headers["Location"] == "/admin/templates"
    found = template_named(client, admin, "足場点検記録")
    assert without_times(found) == {
        "id": found["id"],
        "name": "足場点検記録",
        "category": "品質",
        "title": "【足場点検】",
        "summary": "始業前の足場点検",
        "content": "## 点検項目\n\n- 手すり\n- 布板\n",
        "tags": ["足場", "点検", "朝礼"],  # split as an entry's tags are, the repeated one once
        "priority": "critical",
    }
    page = client.get("/admin/templates").get_data(as_text=True)
    row = re.search(rf'<tr id="template-{found["id"]}">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1))
    assert cells == [f'<a href="/admin/templates/{found["id"]}">足場点検記録</a>', "品質", "足場・点検・朝礼", "緊急"]
    assert audited(client, admin, "template.create") == [("admin", "template", found["id"], {"name": "足場点検記録"})]


def test_a_template_form_names_each_refused_field_in_japanese_and_keeps_the_input(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    sign_in(client, "admin")
    fields = {"name": "", "category": "安全", "title": "【点検】", "tags": "足場 点検", "priority": "urgent"}
    refused = send(client, "/admin/templates", "/admin/templates", **fields)
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert '<p class="error" id="name-error">短すぎます。</p>' in page
    assert '<p class="error" id="priority-error">許可されていない値です。</p>' in page
    assert '<select id="priority" name="priority" aria-invalid="true" aria-describedby="priority-error">' in page
    assert 'value="【点検】"' in page and 'value="足場 点検"' in page  # what was typed stays
    valid = {**fields, "name": "点検", "priority": "low"}
    unknown = send(client, "/admin/templates", "/admin/templates", **{**valid, "category": "土木"})
    assert unknown.status_code == 422
    assert '<p class="error" id="category-error">未登録のカテゴリです。</p>' in unknown.get_data(as_text=True)
    taken = send(client, "/admin/templates", "/admin/templates", **{**valid, "name": "是正報告"})
    assert taken.status_code == 409
    message = '<p class="error" id="name-error">テンプレート「是正報告」は既に存在します。</p>'
    assert message in taken.get_data(as_text=True)
    assert template_names(client, admin) == SEEDED_TEMPLATES
    assert audited(client, admin, "template.create") == []


def test_an_edited_template_is_offered_to_a_new_entry_with_its_new_title(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    before = template_named(client, admin, "ヒヤリハット報告")
    path = f"/admin/templates/{before['id']}"
    sign_in(client, "admin")
    form = client.get(path).get_data(as_text=True)
    assert '<input id="title" name="title" value="【ヒヤリハット】" maxlength="200">' in form
    assert "<option selected>安全</option>" in form and '<option value="high" selected>高</option>' in form
    assert 'value="ヒヤリハット 安全"' in form
    changes = {"title": "【ヒヤリハット速報】", "priority": "critical"}
    fields = {**{name: before[name] for name in ("name", "category", "summary", "content")}, **changes}
    saved = send(client, path, path, **fields, tags=" ".join(before["tags"]))
    assert saved.status_code == 302 and saved.headers["Location"] == "/admin/templates"
    after = template_named(client, admin, "ヒヤリハット報告")
    assert without_times(after) == {**without_times(before), **changes}
    update = ("admin", "template", before["id"], {"name": "ヒヤリハット報告", "changed_fields": ["title", "priority"]})
    assert audited(client, admin, "template.update") == [update]
    writer = app.test_client()
    sign_in(writer, "yamada")
    started = writer.get(f"/knowledge/new?template={before['id']}").get_data(as_text=True)
    assert 'name="title" value="【ヒヤリハット速報】"' in started
    assert '<option value="critical" selected>緊急</option>' in started


def test_renaming_a_template_to_another_ones_name_is_refused_and_changes_nothing(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    before = template_named(client, admin, "施工手順")
    path = f"/admin/templates/{before['id']}"
    sign_in(client, "admin")
    fields = {name: before[name] for name in ("category", "title", "summary", "content", "priority")}
    refused = send(client, path, path, **fields, name="是正報告", tags="施工手順")
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert '<p class="error" id="name-error">テンプレート「是正報告」は既に存在します。</p>' in page
    assert "<h1>テンプレートの編集: 施工手順</h1>" in page  # the heading names what is saved, not what was typed
    assert without_times(template_named(client, admin, "施工手順")) == without_times(before)
    assert audited(client, admin, "template.update") == []


def test_a_deleted_template_is_gone_and_its_pages_are_the_404_page(client: FlaskClient, admin: dict[str, str]) -> None:
    target = template_named(client, admin, "是正報告")
    path = f"/admin/templates/{target['id']}"
    sign_in(client, "admin")
    deleted = send(client, f"{path}/delete", path)
    assert deleted.status_code == 302 and deleted.headers["Location"] == "/admin/templates"
    assert client.get(f"/api/v1/templates/{target['id']}", headers=admin).status_code == 404
    assert template_names(client, admin) == ["施工手順", "ヒヤリハット報告"]
    assert audited(client, admin, "template.delete") == [("admin", "template", target["id"], {"name": "是正報告"})]
    token = csrf_of(client, "/admin/templates")
    for response in (
        client.get(path),
        client.post(path, data={"csrf_token": token, "name": "是正報告", "category": "品質"}),
        client.post(f"{path}/delete", data={"csrf_token": token}),
    ):
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "<h1>ページが見つかりません</h1>" in page
        assert '<p role="alert">テンプレートが見つかりません。</p>' in page
    assert len(audited(client, admin, "template.delete")) == 1


def test_only_an_admin_opens_sends_or_is_offered_the_catalog_pages(
    app: Flask, client: FlaskClient, admin: dict[str, str]
) -> None:
    template_id = template_named(client, admin, "施工手順")["id"]
    edit = f"/admin/templates/{template_id}"
    sent = {
        "/admin/categories": {"name": "仮設工事"},
        "/admin/templates": {"name": "新しい雛形", "category": "安全", "priority": "normal"},
        edit: {"name": "施工手順（改）", "category": "安全", "priority": "normal"},
        f"{edit}/delete": {},
    }
    for username in ("yamada", "kimura", "partner"):  # editor, approver, viewer
        other = app.test_client()
        sign_in(other, username)
        nav = other.get("/").get_data(as_text=True)
        assert 'href="/admin/categories"' not in nav and 'href="/admin/templates"' not in nav
        token = csrf_of(other, "/")
        for path, fields in sent.items():
            if not path.endswith("/delete"):
                assert other.get(path).status_code == 403, (username, path)
            assert other.post(path, data={"csrf_token": token, **fields}).status_code == 403, (username, path)
    assert category_names(client, admin) == SEEDED_CATEGORIES
    assert template_names(client, admin) == SEEDED_TEMPLATES
    sign_in(client, "admin")
    nav = client.get("/").get_data(as_text=True)
    assert '<a href="/admin/categories">カテゴリ</a>\n    <a href="/admin/templates">テンプレート</a>' in nav


def test_a_catalog_form_without_its_csrf_token_changes_nothing(client: FlaskClient, admin: dict[str, str]) -> None:
    template_id = template_named(client, admin, "施工手順")["id"]
    edit = f"/admin/templates/{template_id}"
    sign_in(client, "admin")
    client.get("/admin/templates")  # the CSRF cookie is set; the forms below do not send its token back
    sent = {
        "/admin/categories": {"name": "仮設工事"},
        "/admin/templates": {"name": "新しい雛形", "category": "安全", "priority": "normal"},
        edit: {"name": "施工手順（改）", "category": "安全", "priority": "normal"},
        f"{edit}/delete": {},
    }
    for path, fields in sent.items():
        for token in ({}, {"csrf_token": "forged"}):
            refused = client.post(path, data={**token, **fields})
            assert refused.status_code == 403, path
            assert "フォームの有効期限が切れました" in refused.get_data(as_text=True)
    assert category_names(client, admin) == SEEDED_CATEGORIES
    assert template_names(client, admin) == SEEDED_TEMPLATES
    for action in ("category.create", "template.create", "template.update", "template.delete"):
        assert audited(client, admin, action) == [], action


class Controls(HTMLParser):
    """Each element's attributes, as a browser parses the page."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))


def test_every_catalog_control_is_labelled_and_no_page_has_inline_style_or_script(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    template_id = template_named(client, admin, "施工手順")["id"]
    sign_in(client, "admin")
    pages = {
        "categories": client.get("/admin/categories"),
        "templates": client.get("/admin/templates"),
        "edit": client.get(f"/admin/templates/{template_id}"),
        "refused category": send(client, "/admin/categories", "/admin/categories", name="安全"),
        "refused template": send(client, "/admin/templates", "/admin/templates", name="", tags="a" * 51),
    }
    token = csrf_of(client, "/admin/categories")
    for name, response in pages.items():
        parsed = Controls()
        parsed.feed(response.get_data(as_text=True))
        elements = parsed.elements
        ids = {attrs["id"] for _tag, attrs in elements if attrs.get("id")}
        labelled = {attrs["for"] for tag, attrs in elements if tag == "label"}
        controls = [
            attrs for tag, attrs in elements if tag in ("input", "select", "textarea") and attrs.get("type") != "hidden"
        ]
        assert controls and all(attrs.get("id") in labelled for attrs in controls), name
        described = [attrs["aria-describedby"] for attrs in controls if attrs.get("aria-describedby")]
        assert all(target in ids for target in described), name
        assert not [attrs for _tag, attrs in elements if "style" in attrs or any(key.startswith("on") for key in attrs)]
        assert all((attrs.get("src") or "").startswith("/static/") for tag, attrs in elements if tag == "script"), name
        forms = [index for index, (tag, attrs) in enumerate(elements) if tag == "form"]
        for index in forms:  # every form's first field is its CSRF token
            assert elements[index + 1] == ("input", {"type": "hidden", "name": "csrf_token", "value": token}), name
    refused = pages["refused template"].get_data(as_text=True)
    assert 'aria-describedby="name-error"' in refused and 'aria-describedby="tags-error"' in refused
