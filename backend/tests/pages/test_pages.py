"""The pages through the real app and its SQLite file: session, CSRF, search, entries, errors, hostile text.

The browser tests (test_browser.py) drive the same pages in Chromium; these check each rule's exact answer.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import jwt
import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from mks.models import AuditAction
from mks.pages.labels import ACTION_LABELS
from mks.pages.markdown import to_html
from mks.tokens import ACCESS, ALGORITHM, FAMILY, GENERATION, issue, token_keys
from tests.conftest import PASSWORDS
from tests.monitoring.stack import api, bare_prometheus, require_prometheus
from tests.workflow import created_in, publish, step

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BACKEND = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: FlaskClient, path: str = "/login") -> str:
    found = CSRF.search(client.get(path).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str | None = None, next_path: str = "") -> Any:
    form = {"username": username, "password": password or PASSWORDS[username], "next": next_path}
    return client.post("/login", data={"csrf_token": csrf_of(client), **form})


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("mks_session")
    return cookie.value if cookie is not None else None


def test_a_page_without_a_session_leads_to_sign_in_and_back(client: FlaskClient) -> None:
    response = client.get("/?q=足場")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?q%3D%E8%B6%B3%E5%A0%B4"
    signed = sign_in(client, "yamada", next_path="/?q=足場")
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/?q=%E8%B6%B3%E5%A0%B4"
    cookie = next(header for header in signed.headers.getlist("Set-Cookie") if header.startswith("mks_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_sign_in_refuses_a_form_without_its_csrf_token(client: FlaskClient) -> None:
    client.get("/login")  # sets the CSRF cookie
    response = client.post("/login", data={"username": "yamada", "password": PASSWORDS["yamada"], "csrf_token": "x"})
    assert response.status_code == 403
    assert "フォームの有効期限が切れました" in response.get_data(as_text=True)
    assert session_cookie(client) is None


def test_a_wrong_password_and_an_unknown_user_get_the_same_japanese_message(client: FlaskClient) -> None:
    wrong = sign_in(client, "yamada", "not-the-password")
    unknown = sign_in(client, "nobody", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    message = "ユーザー名またはパスワードが正しくありません。"
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)
    assert session_cookie(client) is None


def test_the_next_page_stays_on_this_site(client: FlaskClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        client.delete_cookie("mks_session")
        response = sign_in(client, "yamada", next_path=target)
        assert response.headers["Location"] == "/"


def test_search_shows_the_count_and_highlighted_snippets(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    publish(client, editor, approver, title="足場の点検手順", summary="朝礼前に足場を点検する", content="手すり")
    publish(client, editor, approver, title="型枠の解体", summary="解体の順序", content="足場は使わない。")
    sign_in(client, "partner")
    page = client.get("/?q=足場 点検").get_data(as_text=True)
    assert '<p class="count" id="count">1件</p>' in page
    assert "足場の点検手順" in page and "型枠の解体" not in page
    assert "朝礼前に<mark>足場</mark>を<mark>点検</mark>する" in page
    empty = client.get("/?q=量子暗号").get_data(as_text=True)
    assert "「量子暗号」に一致するナレッジはありません。" in empty


def test_search_chips_narrow_by_category_status_and_tag_and_keep_the_query(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    publish(client, editor, approver, title="足場の点検", category="安全", tags=["朝礼", "点検"])
    publish(client, editor, approver, title="足場の組立", category="安全", tags=["組立"])
    publish(client, editor, approver, title="足場の費用", category="原価", tags=["朝礼"])
    created_in(client, editor, approver, "draft", title="足場の下書き", category="安全", tags=["朝礼"])
    sign_in(client, "yamada")
    page = client.get("/?q=足場").get_data(as_text=True)
    chips = re.findall(r'<a href="(/\?[^"]*)"( aria-current="true")?>([^<]+)</a>', page.split('class="count"')[0])
    assert [(unquote(unescape(href)), bool(current), text) for href, current, text in chips] == [
        ("/?q=足場", True, "すべて"),
        ("/?q=足場&category=安全", False, "安全（3）"),
        ("/?q=足場&category=原価", False, "原価（1）"),
        ("/?q=足場", True, "すべて"),
        ("/?q=足場&status=draft", False, "下書き（1）"),
        ("/?q=足場&status=approved", False, "承認済み（3）"),
        ("/?q=足場", True, "関連度順"),
        ("/?q=足場&sort=newest", False, "新しい順"),
    ]
    newest = client.get("/?q=足場&sort=newest").get_data(as_text=True)
    titles = re.findall(r'class="hit-title" href="[^"]+">([^<]+)</a>', newest)
    assert titles == ["足場の下書き", "足場の費用", "足場の組立", "足場の点検"]
    assert '<a href="/?q=%E8%B6%B3%E5%A0%B4&amp;tag=%E6%9C%9D%E7%A4%BC">朝礼</a>' in page  # each hit's tags filter
    narrowed = client.get("/?q=足場&category=安全&status=approved&tag=朝礼").get_data(as_text=True)
    assert '<p class="count" id="count">1件</p>' in narrowed and "足場の点検" in narrowed
    assert 'aria-label="タグ「朝礼」の絞り込みを解除">朝礼 ×</a>' in narrowed
    assert "更新 kimura 20" in narrowed  # who updated it (the approval), and when
    unknown = client.get("/?q=足場&category=存在しない").get_data(as_text=True)
    assert '<p class="error" role="alert">' in unknown
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    partner_page = client.get("/?q=足場").get_data(as_text=True)
    assert "ステータス" not in partner_page and "下書き" not in partner_page
    assert '<p class="count" id="count">3件</p>' in partner_page


def test_a_tag_link_keeps_a_tag_with_reserved_characters_whole(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    publish(client, editor, approver, title="足場の点検", tags=["鉄骨/RC+S&造 #1"])
    publish(client, editor, approver, title="足場の組立", tags=["鉄骨"])
    sign_in(client, "yamada")
    page = client.get("/?q=足場").get_data(as_text=True)
    (href,) = re.findall(r'<li><a href="([^"]+)">鉄骨/RC\+S&amp;造 #1</a></li>', page)
    assert href == "/?q=%E8%B6%B3%E5%A0%B4&amp;tag=%E9%89%84%E9%AA%A8/RC%2BS%26%E9%80%A0+%231"
    narrowed = client.get(unescape(href)).get_data(as_text=True)
    assert '<p class="count" id="count">1件</p>' in narrowed and "足場の組立" not in narrowed
    assert 'aria-label="タグ「鉄骨/RC+S&amp;造 #1」の絞り込みを解除">鉄骨/RC+S&amp;造 #1 ×</a>' in narrowed


def test_a_count_above_the_exact_bound_reads_as_at_least(
    app: Flask, client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    for number in range(3):
        publish(client, editor, approver, title=f"足場の点検 {number}", summary="足場", content="点検")
    app.extensions["mks_settings"].search_exact_total = 2
    sign_in(client, "yamada")
    assert '<p class="count" id="count">2件以上</p>' in client.get("/?q=足場").get_data(as_text=True)


def test_a_viewer_never_opens_an_unapproved_entry(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    draft = created_in(client, editor, approver, "draft", title="社内向け原価メモ", summary="原価", content="非公開")
    approved = publish(client, editor, approver, title="公開手順", summary="手順", content="公開")
    sign_in(client, "partner")
    for path in (f"/knowledge/{draft['id']}", f"/knowledge/{draft['id']}/print"):
        response = client.get(path)
        assert response.status_code == 404
        page = response.get_data(as_text=True)
        assert "ページが見つかりません" in page and "社内向け原価メモ" not in page
    assert "社内向け原価メモ" not in client.get("/?q=原価").get_data(as_text=True)
    assert client.get(f"/knowledge/{approved['id']}").status_code == 200


def test_an_entry_page_shows_its_facts_and_counts_the_view(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    body = "## 手順\n\n1. 測る"
    entry = publish(client, editor, approver, title="鉄筋のかぶり厚さ", summary="確認手順", content=body, tags=["鉄筋"])
    sign_in(client, "partner")
    page = client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)
    assert '<span class="badge status-approved">承認済み</span>' in page
    assert f"第{entry['version']}版" in page
    assert "閲覧 1回" in page
    assert "<h2>手順</h2>" in page and "<li>測る</li>" in page
    printed = client.get(f"/knowledge/{entry['id']}/print").get_data(as_text=True)
    assert "ログアウト" not in printed  # no page chrome
    approved_at = datetime.fromisoformat(entry["updated_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"第{entry['version']}版 ・ 承認済み\n・ 承認日 {approved_at:%Y-%m-%d}" in printed


class Elements(HTMLParser):
    """The tags and attributes of a page as a browser parses them (escaped text is text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]


HOSTILE = (
    '<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n[link](javascript:alert(3))\n\n'
    '<a href="#" style="color:red" onclick="alert(4)">x</a>'
)


def test_hostile_markdown_and_titles_cannot_run_script(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    title = "<script>alert(5)</script>足場"
    entry = publish(client, editor, approver, title=title, summary="<b>要約</b>", content=HOSTILE)
    sign_in(client, "yamada")
    pages = ("", "/print", "/history", "/edit")
    for path in [*(f"/knowledge/{entry['id']}{page}" for page in pages), "/?q=足場"]:
        elements = Elements()
        elements.feed(client.get(path).get_data(as_text=True))
        # The only scripts are the app's own files; no element carries style or an event handler.
        scripts = [value for tag, name, value in elements.attributes if tag == "script" and name == "src"]
        assert elements.tags.count("script") == len(scripts), path
        assert all((source or "").startswith("/static/") for source in scripts), path
        assert "style" not in elements.tags, path
        assert not [name for _tag, name, _value in elements.attributes if name.startswith("on") or name == "style"]
        assert not [value for _tag, name, value in elements.attributes if "javascript:" in (value or "")]
    assert "&lt;script&gt;alert(5)&lt;/script&gt;足場" in client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)


def test_the_editor_previews_as_the_entry_page_shows_and_offers_the_tags_in_use(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    publish(client, editor, approver, title="足場の点検", tags=["足場", "点検"])
    publish(client, editor, approver, title="足場の組立", tags=["足場"])
    sign_in(client, "yamada")
    editor_page = client.get("/knowledge/new").get_data(as_text=True)
    assert '<datalist id="tag-suggestions"><option value="足場"><option value="点検"></datalist>' in editor_page
    token = csrf_of(client, "/knowledge/new")
    previewed = client.post("/preview", data={"csrf_token": token, "content": HOSTILE + "\n\n## 手順"})
    assert (previewed.status_code, previewed.mimetype) == (200, "text/html")
    assert previewed.get_data(as_text=True) == to_html(HOSTILE + "\n\n## 手順")
    assert "<h2>手順</h2>" in previewed.get_data(as_text=True) and "<script" not in previewed.get_data(as_text=True)
    assert client.post("/preview", data={"csrf_token": "forged", "content": "x"}).status_code == 403
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    assert client.post("/preview", data={"csrf_token": csrf_of(client, "/"), "content": "x"}).status_code == 403


def test_pages_have_their_own_content_security_policy(client: FlaskClient) -> None:
    page = client.get("/login")
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'; style-src 'self'")
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
    api = client.get("/health")
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'; frame-ancestors 'none'")


def test_an_address_nothing_serves_is_a_japanese_page_for_a_browser_and_json_for_a_program(
    client: FlaskClient,
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    page = client.get("/knowledeg/1", headers=browser)
    assert (page.status_code, page.mimetype) == (404, "text/html")
    assert "<h1>ページが見つかりません</h1>" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'; style-src 'self'")
    for path, headers in (("/knowledeg/1", {"Accept": "*/*"}), ("/api/v1/nothing", browser)):
        answer = client.get(path, headers=headers)
        assert (answer.status_code, answer.json["error"]["code"]) == (404, "not_found")


def test_sign_out_ends_the_session_everywhere(client: FlaskClient) -> None:
    sign_in(client, "yamada")
    token = session_cookie(client)
    assert client.get("/").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert session_cookie(client) is None
    # The same token, kept by someone else, no longer works for pages or the API.
    client.set_cookie("mks_session", token or "")
    assert client.get("/").status_code == 302
    api = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401 and api.json["error"]["code"] == "token_revoked"


def test_disabling_a_user_ends_their_page_session_at_once(client: FlaskClient, admin: dict[str, str]) -> None:
    sign_in(client, "partner")
    assert client.get("/").status_code == 200
    users = client.get("/api/v1/users", headers=admin).json["items"]
    partner = next(user for user in users if user["username"] == "partner")
    assert client.patch(f"/api/v1/users/{partner['id']}", json={"is_active": False}, headers=admin).status_code == 200
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/"


def test_sign_out_without_the_csrf_token_changes_nothing(client: FlaskClient) -> None:
    sign_in(client, "yamada")
    response = client.post("/logout", data={})
    assert response.status_code == 403
    assert client.get("/").status_code == 200


def test_sign_in_is_rate_limited_per_username_with_a_japanese_page_and_counted(app: Flask, client: FlaskClient) -> None:
    app.extensions["mks_settings"].ratelimit_login_per_username = "2 per minute"
    for address in ("10.0.0.1", "10.0.0.2"):
        client.environ_base["REMOTE_ADDR"] = address
        assert sign_in(client, "yamada", "wrong-password").status_code == 401
    client.environ_base["REMOTE_ADDR"] = "10.0.0.3"
    refused = sign_in(client, "yamada")  # the right password, a third client: still refused
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "アクセスが集中しています" in page and "リクエストが多すぎます。" in page
    assert session_cookie(client) is None
    registry = app.extensions["mks_scrape_registry"]
    assert registry.get_sample_value("mks_auth_attempts_total", {"status": "rate_limited"}) == 1
    assert registry.get_sample_value("mks_auth_attempts_total", {"status": "failure"}) == 2
    # Pages are counted under their route templates, like the API.
    labels = {"method": "POST", "endpoint": "/login", "status": "429"}
    assert registry.get_sample_value("mks_http_requests_total", labels) == 1


def test_a_session_in_use_is_renewed_in_the_second_half_of_its_life(app: Flask, client: FlaskClient) -> None:
    sign_in(client, "yamada")
    assert client.get("/").headers.getlist("Set-Cookie") == []  # fresh: nothing to renew
    with app.app_context():  # not around the requests: they would share its g
        keys = token_keys()
    first = jwt.decode(session_cookie(client) or "", keys.secret, algorithms=[ALGORITHM])
    # The same login's token with a minute left of its 30.
    short = replace(keys, access_lifetime=timedelta(minutes=1))
    claims = {GENERATION: first[GENERATION], FAMILY: first[FAMILY]}
    client.delete_cookie("mks_session")
    client.set_cookie("mks_session", issue(short, int(first["sub"]), ACCESS, role="editor", **claims))
    assert client.get("/").status_code == 200
    renewed = jwt.decode(session_cookie(client) or "", keys.secret, algorithms=[ALGORITHM])
    assert renewed[FAMILY] == first[FAMILY] and renewed["sub"] == first["sub"]
    assert renewed["exp"] - renewed["iat"] == 30 * 60


def test_page_searches_spend_the_api_search_budget(app: Flask, client: FlaskClient) -> None:
    app.extensions["mks_settings"].ratelimit_search = "2 per minute"
    sign_in(client, "yamada")
    token = session_cookie(client)
    assert client.get("/?q=足場").status_code == 200
    api = client.get("/api/v1/knowledge/search?q=足場", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    refused = client.get("/?q=点検")
    assert refused.status_code == 429
    assert "アクセスが集中しています" in refused.get_data(as_text=True)


def test_the_review_queue_is_for_writers_only(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    created_in(client, editor, approver, "review", title="型枠の解体手順", summary="解体", content="順序")
    sign_in(client, "kimura")
    page = client.get("/reviews").get_data(as_text=True)
    assert '<p class="count" id="count">1件（待っている時間の長い順）</p>' in page
    assert "型枠の解体手順" in page and "<td>yamada</td>" in page and "<td>第2版</td>" in page
    submitted = client.get("/api/v1/knowledge/review-queue", headers=approver).json["items"][0]["submitted_at"]
    in_japan = datetime.fromisoformat(submitted).astimezone(ZoneInfo("Asia/Tokyo"))  # UTC+9, shown as such
    assert f"<td>{in_japan:%Y-%m-%d %H:%M}</td>" in page
    assert "レビュー待ち</a>" in client.get("/").get_data(as_text=True)
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    refused = client.get("/reviews")
    assert refused.status_code == 403
    assert "この操作を行う権限がありません" in refused.get_data(as_text=True)
    assert "レビュー待ち</a>" not in client.get("/").get_data(as_text=True)


def test_history_shows_a_viewer_the_approved_revisions_only(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = created_in(client, editor, approver, "review", title="足場の点検", summary="点検", content="手すり")
    sent_back = step(client, approver, entry, "send-back", reason="写真が不足しています")
    approved = step(client, approver, step(client, editor, sent_back, "submit"), "approve")
    sign_in(client, "yamada")
    rows = re.findall(r"<td>第(\d+)版</td>", client.get(f"/knowledge/{approved['id']}/history").get_data(as_text=True))
    assert rows == ["5", "4", "3", "2", "1"]
    page = client.get(f"/knowledge/{approved['id']}/history").get_data(as_text=True)
    assert "<td>写真が不足しています</td>" in page
    assert "<td>題名・要約・本文・カテゴリ・タグ・ステータス・優先度・プロジェクト・担当部署・再確認日</td>" in page
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    seen = client.get(f"/knowledge/{approved['id']}/history").get_data(as_text=True)
    assert re.findall(r"<td>第(\d+)版</td>", seen) == ["5"]
    assert "写真が不足しています" not in seen


def form_of(client: FlaskClient, path: str) -> dict[str, str]:
    """The CSRF token and version a page's form carries."""
    page = client.get(path).get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page)
    return {"csrf_token": csrf_of(client, path), **({"version": version.group(1)} if version else {})}


def test_a_writer_creates_an_entry_and_bad_fields_are_named_in_japanese(client: FlaskClient) -> None:
    sign_in(client, "yamada")
    fields = {
        "title": "",
        "summary": "要約",
        "content": "本文",
        "category": "安全",
        "tags": "足場、点検",
        "priority": "high",
    }
    refused = client.post("/knowledge/new", data={**form_of(client, "/knowledge/new"), **fields})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert '<p class="error" id="title-error">' in page and 'value="足場 点検"' in page  # the input is kept
    created = client.post("/knowledge/new", data={**form_of(client, "/knowledge/new"), **fields, "title": "足場の点検"})
    assert created.status_code == 302
    entry = client.get(created.headers["Location"]).get_data(as_text=True)
    assert "<h1>足場の点検</h1>" in entry and '<span class="badge status-draft">下書き</span>' in entry
    assert "<li>点検</li><li>足場</li>" in entry


def test_a_late_save_shows_the_other_change_beside_yours_and_overwrites_only_when_asked(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = created_in(client, editor, approver, "draft", title="型枠の解体", summary="順序", content="最初の本文")
    sign_in(client, "yamada")
    path = f"/knowledge/{entry['id']}/edit"
    mine = {**form_of(client, path), "title": "型枠の解体", "summary": "順序", "category": "安全", "tags": ""}
    mine |= {"priority": "normal", "content": "私の本文"}
    theirs = {"version": entry["version"], "content": "相手の本文"}
    assert client.put(f"/api/v1/knowledge/{entry['id']}", json=theirs, headers=approver).status_code == 200
    late = client.post(path, data=mine)
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert f"ほかの人が先に保存しました（第{entry['version'] + 1}版）" in page
    assert '<pre class="plain">相手の本文</pre>' in page and ">私の本文</textarea>" in page
    assert client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json["content"] == "相手の本文"
    again = client.post(path, data={**mine, "version": str(entry["version"] + 1)})  # the user chose theirs over
    assert again.status_code == 302
    assert client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json["content"] == "私の本文"


def test_an_entry_page_offers_the_steps_the_server_allows_and_takes_them(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = created_in(client, editor, approver, "draft", title="杭の施工計画", summary="計画", content="本文")
    path = f"/knowledge/{entry['id']}"
    sign_in(client, "yamada")
    assert re.findall(r"<button type=\"submit\"[^>]*>([^<]+)</button>", client.get(path).get_data(as_text=True)) == [
        "ログアウト",
        "添付する",
        "レビュー依頼",
    ]
    assert client.post(f"{path}/steps/submit", data=form_of(client, path)).status_code == 302
    client.delete_cookie("mks_session")
    sign_in(client, "kimura")
    buttons = re.findall(r"<button type=\"submit\"[^>]*>([^<]+)</button>", client.get(path).get_data(as_text=True))
    assert buttons == ["ログアウト", "添付する", "承認", "差戻し", "アーカイブ"]
    refused = client.post(f"{path}/steps/send-back", data=form_of(client, path))
    assert refused.status_code == 422
    assert "差戻しの理由を入力してください" in refused.get_data(as_text=True)
    sent = client.post(f"{path}/steps/send-back", data={**form_of(client, path), "comment": "写真が不足しています"})
    assert sent.status_code == 302
    found = client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json
    assert found["status"] == "draft"
    assert "<td>写真が不足しています</td>" in client.get(f"{path}/history").get_data(as_text=True)
    client.delete_cookie("mks_session")
    sign_in(client, "yamada")  # the author is told why, on the entry and on their own page
    told = "<strong>差戻し（理由）</strong>: 写真が不足しています</p>"
    assert told in client.get(path).get_data(as_text=True)
    assert told in client.get("/account").get_data(as_text=True)
    assert client.post(f"{path}/steps/submit", data=form_of(client, path)).status_code == 302
    assert told not in client.get("/account").get_data(as_text=True)  # submitted again: no longer waiting for them
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    assert client.post(f"{path}/steps/approve", data=form_of(client, "/")).status_code == 403


def test_the_author_is_told_why_a_change_of_an_approved_entry_was_sent_back(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = publish(client, editor, approver, title="足場の点検", content="手すり")
    changed = {"version": entry["version"], "content": "手すり（二重）"}
    change = client.put(f"/api/v1/knowledge/{entry['id']}", json=changed, headers=editor).json
    step(client, approver, step(client, editor, change, "submit"), "send-back", reason="写真が不足しています")
    untouched = publish(client, editor, approver, title="型枠の解体")
    sign_in(client, "yamada")
    told = '<p class="sent-back" role="status"><strong>差戻し（理由）</strong>: 写真が不足しています</p>'
    assert told in client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)  # approved, its change sent back
    assert 'class="sent-back"' not in client.get(f"/knowledge/{untouched['id']}").get_data(as_text=True)


def test_an_approver_compares_a_change_with_the_approved_version_and_a_writer_restores_one(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = publish(client, editor, approver, title="足場の点検", summary="点検", content="手すり\n布板\n壁つなぎ")
    changed = {"version": entry["version"], "content": "手すり\n布板（二重）\n壁つなぎ", "tags": ["足場"]}
    change = client.put(f"/api/v1/knowledge/{entry['id']}", json=changed, headers=editor).json
    pending = change["pending"]["revision"]
    sign_in(client, "kimura")
    page = client.get(f"/knowledge/{entry['id']}").get_data(as_text=True)
    link = f"/knowledge/{entry['id']}/revisions/{pending}/diff?against=approved"
    assert f'<a href="{link}">承認済みの版との差分</a>' in page
    compared = client.get(link).get_data(as_text=True)
    assert f"第{entry['version']}版 → 第{pending}版" in compared
    assert "<td>タグ</td>\n      <td></td>\n      <td>足場</td>" in compared
    lines = re.findall(
        r'<div class="line (\w+)">(?:<(?:del|ins)><span class="visually-hidden">[^<]+</span>)?([^<]*)', compared
    )
    assert lines == [("equal", "  手すり"), ("delete", "- 布板"), ("insert", "+ 布板（二重）"), ("equal", "  壁つなぎ")]
    client.delete_cookie("mks_session")
    sign_in(client, "partner")
    assert client.get(link).status_code == 404  # the change is not approved
    client.delete_cookie("mks_session")
    sign_in(client, "yamada")
    history = f"/knowledge/{entry['id']}/history"
    restored = client.post(f"/knowledge/{entry['id']}/revisions/1/restore", data=form_of(client, history))
    assert restored.status_code == 302
    found = client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json
    assert found["pending"]["content"] == "手すり\n布板\n壁つなぎ" and found["pending"]["tags"] == []


def test_an_admin_adds_a_partner_and_disabling_a_user_ends_their_session(app: Flask) -> None:
    admin, partner = app.test_client(), app.test_client()
    sign_in(partner, "partner")
    assert partner.get("/").status_code == 200
    sign_in(admin, "admin")
    account = {"username": "tanaka", "display_name": "田中（協力会社）", "password": "tanaka-pass-1", "role": "viewer"}
    added = admin.post("/admin/users", data={**form_of(admin, "/admin/users"), **account})
    assert added.status_code == 302
    again = admin.post("/admin/users", data={**form_of(admin, "/admin/users"), **account})
    assert again.status_code == 422
    assert "このユーザー名は既に使われています" in again.get_data(as_text=True)
    page = admin.get("/admin/users").get_data(as_text=True)
    row = re.search(r'<tr id="user-tanaka">(.*?)</tr>', page, re.S)
    assert (
        row is not None and "<td>田中（協力会社）</td>" in row.group(1) and '"viewer" selected>閲覧者' in row.group(1)
    )
    users = admin.get("/api/v1/users", headers=admin_headers(admin)).json["items"]
    target = next(found for found in users if found["username"] == "partner")
    disabled = admin.post(f"/admin/users/{target['id']}", data={**form_of(admin, "/admin/users"), "is_active": "false"})
    assert disabled.status_code == 302
    assert partner.get("/").headers["Location"] == "/login?next=/"  # at once
    assert "<td>無効</td>" in admin.get("/admin/users").get_data(as_text=True)
    sign_in(partner, "yamada")
    assert partner.get("/admin/users").status_code == 403


def admin_headers(client: FlaskClient) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]})
    return {"Authorization": f"Bearer {response.json['access_token']}"}


ALWAYS_FIRING = """groups:
  - name: page-test
    rules:
      - alert: MKSPageTestAlert
        expr: vector(1)
        labels:
          severity: critical
        annotations:
          summary: ページの確認用のアラート
"""


def test_the_monitoring_page_shows_the_figures_the_alerts_and_the_dashboards(
    app: Flask, client: FlaskClient, editor: dict[str, str], approver: dict[str, str], tmp_path: Path
) -> None:
    require_prometheus()
    for title in ("足場の点検", "型枠の解体"):
        created_in(client, editor, approver, "draft", title=title, summary="要約", content="本文")
    rules = tmp_path / "rules.yml"
    rules.write_text(ALWAYS_FIRING)
    config = f"global:\n  scrape_interval: 1h\n  evaluation_interval: 1s\nrule_files:\n  - {rules}\n"
    sign_in(client, "admin")
    settings = app.extensions["mks_settings"]
    assert "MKS_PROMETHEUS_URL を設定すると" in client.get("/admin/monitoring").get_data(as_text=True)
    with bare_prometheus(tmp_path / "prometheus", config_text=config) as prometheus:
        for _ in range(40):  # bounded: the rule is evaluated every second
            if api(prometheus, "alerts")["alerts"]:
                break
            time.sleep(0.25)
        settings.prometheus_url, settings.grafana_url = prometheus, "http://grafana.example:3000/"
        page = client.get("/admin/monitoring").get_data(as_text=True)
    assert '<dd id="knowledge-total">2件</dd>' in page
    assert (
        '<tr><td><a href="/admin/runbook#mkspagetestalert">MKSPageTestAlert</a></td><td>発生中</td><td>critical</td>'
        "<td>ページの確認用のアラート</td>"
    ) in page
    provisioned = {
        json.loads(path.read_text())["uid"] for path in (BACKEND / "monitoring/grafana/dashboards").glob("*.json")
    }
    links = set(re.findall(r'<a href="http://grafana.example:3000/d/([\w-]+)">', page))
    assert links == provisioned and len(links) == 5
    settings.prometheus_url = "http://127.0.0.1:9"  # nothing listens there
    down = client.get("/admin/monitoring").get_data(as_text=True)
    assert "Prometheus（http://127.0.0.1:9）に接続できません" in down
    client.delete_cookie("mks_session")
    sign_in(client, "kimura")
    assert client.get("/admin/monitoring").status_code == 403


def test_the_runbook_page_has_the_section_every_alert_links_to_for_admins_only(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    rules = [
        rule
        for name in ("alert-rules.yml", "slo-rules.yml")
        for group in yaml.safe_load((BACKEND / "monitoring/prometheus" / name).read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    links = {rule["annotations"]["runbook_url"] for rule in rules}
    sign_in(client, "admin")
    page = client.get("/admin/runbook").get_data(as_text=True)
    sections = set(re.findall(r'<h2 id="([^"]+)">', page))
    assert {link.split("#")[0] for link in links} == {"http://localhost:5100/admin/runbook"}
    assert {link.split("#")[1] for link in links} <= sections and len(links) == 41
    assert '<h2 id="mksbackenddown">MKSBackendDown</h2>' in page
    assert '<h2 id="slo-とエラーバジェット">SLO とエラーバジェット</h2>' in page
    app.extensions["mks_settings"].runbook_file = tmp_path / "missing.md"
    missing = client.get("/admin/runbook")
    assert missing.status_code == 200
    assert f"手順書のファイル（{tmp_path / 'missing.md'}）を読めません。" in missing.get_data(as_text=True)
    for username in ("kimura", "partner"):  # an approver, and a partner company's viewer
        client.delete_cookie("mks_session")
        sign_in(client, username)
        assert client.get("/admin/runbook").status_code == 403


def test_my_page_lists_my_entries_and_changes_my_password_ending_my_other_sessions(
    app: Flask, client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    created_in(client, editor, approver, "review", title="自分の手順", summary="要約", content="本文")
    created_in(client, approver, approver, "draft", title="他人の手順", summary="要約", content="本文")
    other_device = client.get("/api/v1/auth/me", headers=editor)
    assert other_device.status_code == 200
    sign_in(client, "yamada")
    page = client.get("/account").get_data(as_text=True)
    assert "自分の手順" in page and "他人の手順" not in page and "status-review" in page
    wrong = client.post(
        "/account", data={**form_of(client, "/account"), "current_password": "x", "new_password": "long-enough-1"}
    )
    assert wrong.status_code == 422 and "現在のパスワードが正しくありません。" in wrong.get_data(as_text=True)
    short = {"current_password": PASSWORDS["yamada"], "new_password": "short"}
    refused = client.post("/account", data={**form_of(client, "/account"), **short})
    assert refused.status_code == 422 and '<p class="error">短すぎます。</p>' in refused.get_data(as_text=True)
    before = session_cookie(client)
    new = {"current_password": PASSWORDS["yamada"], "new_password": "yamada-new-pass-2"}
    changed = client.post("/account", data={**form_of(client, "/account"), **new})
    assert changed.status_code == 302 and changed.headers["Location"] == "/account?changed=1"
    assert session_cookie(client) != before
    assert "パスワードを変更しました。" in client.get("/account?changed=1").get_data(as_text=True)
    assert client.get("/api/v1/auth/me", headers=editor).status_code == 401  # the other device's login ended
    api = client.post("/api/v1/auth/login", json={"username": "yamada", "password": "yamada-new-pass-2"})
    assert api.status_code == 200


def test_a_new_entry_starts_from_a_template(client: FlaskClient, editor: dict[str, str]) -> None:
    found = client.get("/api/v1/templates", headers=editor).json["items"]
    template = next(item for item in found if item["name"] == "ヒヤリハット報告")
    sign_in(client, "yamada")
    offered = client.get("/knowledge/new").get_data(as_text=True)
    assert f'<a href="/knowledge/new?template={template["id"]}">ヒヤリハット報告</a>' in offered
    page = client.get(f"/knowledge/new?template={template['id']}").get_data(as_text=True)
    assert f'name="title" value="{template["title"]}"' in page
    assert f"<option selected>{template['category']}</option>" in page
    assert f">{template['content']}</textarea>" in page


def test_the_audit_log_filters_by_user_and_action(app: Flask, client: FlaskClient) -> None:
    other = app.test_client()
    sign_in(other, "yamada")
    sign_in(client, "nobody", "wrong-password")
    sign_in(client, "admin")
    page = client.get("/admin/audit?actor=yamada").get_data(as_text=True)
    rows = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", page)
    assert rows == [("yamada", "ログイン")]
    assert '<p class="count" id="count">1件（新しい順）</p>' in page
    failed = client.get("/admin/audit?action=auth.login_failed").get_data(as_text=True)
    assert re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td><td>([^<]+)</td>", failed) == [("nobody", "ログインの失敗")]
    assert set(ACTION_LABELS) == set(AuditAction)  # every action reads in Japanese
    assert client.get("/admin/audit?action=no.such").status_code == 422
    assert other.get("/admin/audit").status_code == 403


def test_a_form_sent_after_the_session_ended_leads_to_sign_in_and_the_start_page(
    client: FlaskClient, editor: dict[str, str], approver: dict[str, str]
) -> None:
    entry = created_in(client, editor, approver, "draft", title="杭の施工", summary="要約", content="本文")
    sign_in(client, "yamada")
    form = form_of(client, f"/knowledge/{entry['id']}")
    client.delete_cookie("mks_session")  # the session ended meanwhile
    sent = client.post(f"/knowledge/{entry['id']}/steps/submit", data=form)
    assert sent.status_code == 302 and sent.headers["Location"] == "/login?next="
    assert client.get(f"/api/v1/knowledge/{entry['id']}", headers=editor).json["status"] == "draft"


def test_every_page_loads_at_most_150_kb_of_script_and_style_gzipped(client: FlaskClient) -> None:
    # Every script and style the pages use is one of these files; a page loads at most all of them.
    static = BACKEND / "mks/pages/static"
    files = sorted(path.name for path in static.iterdir() if path.suffix in (".js", ".css"))
    assert files == ["editor.js", "mks.css", "offline.js", "print.css", "sw.js"]
    total = 0
    for name in files:
        with client.get(f"/static/{name}") as response:  # a file response holds the file open
            assert response.status_code == 200
            total += len(gzip.compress(response.get_data()))
    assert total <= 150 * 1024
