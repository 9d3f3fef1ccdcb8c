"""Journey 1 of JOURNEYS.md (朝礼前の確認) in Chromium on a tablet-sized screen, against the real server.

A partner's foreman signs in, types 足場 点検 through the IME, opens the approved entry, prints it,
cannot reach an internal draft by its URL, and signs out. Screenshots of each page go to
MKS_SCREENSHOTS_DIR when it is set (docs/screenshots holds the committed ones).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from mks.config import Settings

from ..test_files import photo
from .axe import SCRIPT as AXE
from .conftest import LiveServer

TABLET = {"width": 768, "height": 1024}
LOCKOUT_THRESHOLD = Settings().login_lockout_threshold  # the live server's, which keeps the default
VIEWER = ("partner", "partner-pass-1")
LOCKED = ("nakamura", "nakamura-pass-1")  # a user who forgets their password
APPROVER = ("kimura", "kimura-pass-1")


class Api:
    """The live server's API, as one user."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        response = requests.post(
            f"{base_url}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10
        )
        response.raise_for_status()
        self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.base_url}/api/v1{path}", json=body, headers=self.headers, timeout=10)
        assert response.status_code in (200, 201), response.text
        found: dict[str, Any] = response.json()
        return found


@pytest.fixture(scope="module")
def entries(live_server: LiveServer) -> dict[str, int]:
    """An approved procedure and an internal draft, written by the admin; the approver and the partner."""
    admin = Api(live_server.base_url, live_server.username, live_server.password)
    for (username, password), role in ((APPROVER, "approver"), (VIEWER, "viewer"), (LOCKED, "viewer")):
        admin.post(
            "/users", {"username": username, "display_name": f"{username} さん", "password": password, "role": role}
        )
    approver = Api(live_server.base_url, *APPROVER)
    procedure = admin.post(
        "/knowledge",
        {
            "title": "足場の始業前点検の手順",
            "summary": "朝礼前に足場の手すり・布板・壁つなぎを点検する",
            "content": "## 点検項目\n\n1. 手すりの緩み\n2. 布板の外れ\n3. 壁つなぎ\n\n"
            "| 項目 | 判定 |\n|---|---|\n| 手すり | 良 |",
            "category": "安全",
            "tags": ["足場", "点検"],
        },
    )
    submitted = admin.post(f"/knowledge/{procedure['id']}/submit", {"version": procedure["version"]})
    approver.post(f"/knowledge/{procedure['id']}/approve", {"version": submitted["version"]})
    draft = admin.post(
        "/knowledge",
        {"title": "社内向け原価メモ", "summary": "原価", "content": "足場 点検 の費用", "category": "安全"},
    )
    return {"procedure": procedure["id"], "draft": draft["id"]}


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page as it is now (WCAG 2 A and AA rules)."""
    page.evaluate(AXE.read_text())  # through DevTools: the page's own CSP allows its scripts only
    found = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa', 'best-practice']}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    assert [v for v in found if v["impact"] in ("serious", "critical")] == [], page.url


def _screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("MKS_SCREENSHOTS_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_partner_finds_prints_and_never_sees_a_draft_on_a_tablet(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport=TABLET, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server.base_url}/")
        assert page.url == f"{live_server.base_url}/login?next=/"
        _screenshot(page, "login")
        assert_accessible(page)
        page.get_by_label("ユーザー名").fill(VIEWER[0])
        page.get_by_label("パスワード").fill(VIEWER[1])
        page.get_by_role("button", name="ログイン").click()
        page.wait_for_url(f"{live_server.base_url}/")

        # Typed through the IME: a composition of あしば, then the confirmed text; Enter then searches.
        box = page.get_by_label("検索語")
        box.focus()
        ime = context.new_cdp_session(page)
        ime.send("Input.imeSetComposition", {"text": "あしば", "selectionStart": 3, "selectionEnd": 3})
        ime.send("Input.insertText", {"text": "足場 点検"})
        assert box.input_value() == "足場 点検"
        box.press("Enter")
        page.wait_for_url("**/?q=*")
        assert page.locator("#count").inner_text() == "1件"  # the draft mentions both words too
        hit = page.locator(".hits li").first
        assert hit.locator(".hit-title").inner_text() == "足場の始業前点検の手順"
        assert hit.locator("mark").all_inner_texts() == ["足場", "点検"]
        assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
        _screenshot(page, "search")
        assert_accessible(page)

        hit.locator(".hit-title").click()
        page.wait_for_url(f"**/knowledge/{entries['procedure']}")
        assert page.locator(".badge").first.inner_text() == "承認済み"
        assert page.locator(".body li").all_inner_texts() == ["手すりの緩み", "布板の外れ", "壁つなぎ"]
        _screenshot(page, "entry")
        assert_accessible(page)

        # Pinned for the site, then read again with the network off.
        page.get_by_role("button", name="オフライン用に保存").click()
        expect(page.get_by_role("button", name="オフライン用に保存しました")).to_be_visible()
        context.set_offline(True)
        page.reload()
        assert re.fullmatch(r"オフライン（\d\d:\d\d 時点）", page.get_by_role("status").inner_text())
        assert page.locator("h1").inner_text() == "足場の始業前点検の手順"
        _screenshot(page, "offline")
        context.set_offline(False)
        page.reload()
        assert page.locator(".offline-banner").count() == 0

        page.get_by_role("link", name="改訂履歴").click()
        page.wait_for_url(f"**/knowledge/{entries['procedure']}/history")
        assert page.locator("tbody td:first-child").all_inner_texts() == ["第3版"]  # the approved one only
        page.go_back()

        page.get_by_role("link", name="印刷").click()
        page.wait_for_url(f"**/knowledge/{entries['procedure']}/print")
        page.emulate_media(media="print")
        assert page.locator("header").count() == 0  # no page chrome on paper
        assert page.locator("h1").inner_text() == "足場の始業前点検の手順"
        _screenshot(page, "print")
        page.emulate_media(media="screen")

        response = page.goto(f"{live_server.base_url}/knowledge/{entries['draft']}")
        assert response is not None and response.status == 404
        assert page.locator("h1").inner_text() == "ページが見つかりません"
        assert "社内向け原価メモ" not in page.content()

        page.goto(f"{live_server.base_url}/")
        page.get_by_role("button", name="ログアウト").click()
        page.wait_for_url(f"{live_server.base_url}/login")
        assert [cookie["name"] for cookie in context.cookies()] == ["mks_csrf"]
        page.goto(f"{live_server.base_url}/")
        assert page.url == f"{live_server.base_url}/login?next=/"
        # Signing out forgets what was pinned: the next person on this tablet reads nothing offline.
        for _ in range(40):
            if not page.evaluate("caches.has('mks-pinned-v1')"):
                break
            page.wait_for_timeout(100)
        context.set_offline(True)
        with pytest.raises(PlaywrightError):
            page.goto(f"{live_server.base_url}/knowledge/{entries['procedure']}")
    finally:
        context.close()


def test_an_editor_reports_with_photos_and_an_approver_sends_it_back_then_approves(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    desktop = {"locale": "ja-JP", "timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 800}}
    writer, approver = browser.new_context(**desktop), browser.new_context(**desktop)
    partner = browser.new_context(locale="ja-JP", viewport=TABLET, has_touch=True)
    try:
        # Journey 2: from the template, with a live preview and tags offered; the draft survives a reload.
        page = writer.new_page()
        _sign_in(page, live_server.base_url, live_server.username, live_server.password)
        page.get_by_role("link", name="新規作成").click()
        page.get_by_role("link", name="ヒヤリハット報告").click()
        page.wait_for_url("**/knowledge/new?template=*")
        assert page.get_by_label("題名").input_value() == "【ヒヤリハット】"
        page.get_by_label("題名").fill("【ヒヤリハット】開口部の養生外れ")
        page.get_by_label("本文（Markdown）").fill("## 状況\n\n開口部の養生が外れていた。")
        expect(page.locator("#preview h2")).to_have_text(["状況"])  # rendered by the server as the entry page will
        tags = page.get_by_label("タグ（空白か読点で区切る）")
        tags.fill("ヒヤリハット 足")
        assert page.locator("#tag-suggestions option").evaluate_all("options => options.map(o => o.value)") == [
            "ヒヤリハット 足場"
        ]
        tags.fill("ヒヤリハット 足場")
        page.reload()  # the connection on site is lost, the page comes back
        assert page.locator("#draft-restored").is_visible()
        assert page.get_by_label("題名").input_value() == "【ヒヤリハット】開口部の養生外れ"
        expect(page.locator("#preview p")).to_have_text(["開口部の養生が外れていた。"])
        _screenshot(page, "edit")
        assert_accessible(page)
        page.get_by_role("button", name="保存").click()
        page.wait_for_url("**/knowledge/*")
        created = page.url

        # Two site photos from the phone at once; what is stored has no GPS position.
        page.get_by_label(re.compile("写真・PDF を追加")).set_input_files(
            [
                {"name": "開口部-北.jpg", "mimeType": "image/jpeg", "buffer": photo()},
                {"name": "開口部-南.jpg", "mimeType": "image/jpeg", "buffer": photo(turned=True)},
            ]
        )
        page.get_by_role("button", name="添付する").click()
        page.wait_for_url(f"{created}#attachments")
        images = page.locator(".files img")
        images.last.scroll_into_view_if_needed()  # the thumbnails load lazily, once in view
        # Polled by Playwright's own script: wait_for_function's string predicate, once its first check
        # fails, is eval'd again from the page's frame callbacks, which the pages' CSP (no 'unsafe-eval') refuses.
        for image in images.all():
            expect(image).to_have_js_property("complete", True)
        assert images.evaluate_all("images => images.map(i => [i.alt, i.naturalWidth > 0])") == [
            ["写真: 開口部-北.jpg", True],
            ["写真: 開口部-南.jpg", True],
        ]
        stored = page.request.get(live_server.base_url + images.first.locator("xpath=..").get_attribute("href"))
        assert 0x8825 not in Image.open(io.BytesIO(stored.body())).getexif()  # no GPS
        _screenshot(page, "photos")
        assert_accessible(page)
        page.get_by_role("button", name="レビュー依頼").click()
        page.wait_for_url(created)
        assert page.locator(".badge").first.inner_text() == "レビュー中"

        # Journey 3: the queue, oldest first; sent back with a reason the author then reads.
        reviewer = approver.new_page()
        _sign_in(reviewer, live_server.base_url, *APPROVER)
        reviewer.get_by_role("link", name="レビュー待ち").click()
        reviewer.get_by_role("link", name="【ヒヤリハット】開口部の養生外れ").click()
        _screenshot(reviewer, "review")
        assert_accessible(reviewer)
        reviewer.get_by_label("差戻しの理由").fill("写真が不足しています")
        reviewer.get_by_role("button", name="差戻し").click()
        reviewer.wait_for_url(created)
        assert reviewer.locator(".badge").first.inner_text() == "下書き"

        page.get_by_role("link", name=re.compile("（管理者）$")).click()  # 自分のページ
        mine = page.locator("tr", has_text="【ヒヤリハット】開口部の養生外れ")
        assert mine.locator(".sent-back").inner_text() == "差戻し（理由）: 写真が不足しています"
        mine.get_by_role("link").click()
        assert page.locator(".sent-back").inner_text() == "差戻し（理由）: 写真が不足しています"
        page.get_by_label(re.compile("写真・PDF を追加")).set_input_files(
            {"name": "開口部-全景.png", "mimeType": "image/png", "buffer": photo(image_format="PNG")}
        )
        page.get_by_role("button", name="添付する").click()
        page.wait_for_url(f"{created}#attachments")
        assert page.locator(".files img").count() == 3
        page.get_by_role("button", name="レビュー依頼").click()
        page.wait_for_url(created)

        reviewer.get_by_role("link", name="レビュー待ち").click()
        reviewer.get_by_role("link", name="【ヒヤリハット】開口部の養生外れ").click()
        reviewer.get_by_role("button", name="承認").click()
        reviewer.wait_for_url(created)
        assert reviewer.locator(".badge").first.inner_text() == "承認済み"

        # The partner now reads it, photos included.
        reader = partner.new_page()
        _sign_in(reader, live_server.base_url, *VIEWER)
        reader.goto(created)
        assert reader.locator("h1").inner_text() == "【ヒヤリハット】開口部の養生外れ"
        assert reader.locator(".files img").count() == 3
        assert reader.get_by_role("button", name="添付する").count() == 0
    finally:
        writer.close()
        approver.close()
        partner.close()


def test_an_admin_adds_a_partner_ends_a_leavers_sessions_and_reads_the_audit_log_and_the_monitoring_page(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    desktop = {"locale": "ja-JP", "timezone_id": "Asia/Tokyo", "viewport": {"width": 1280, "height": 800}}
    office, leavers_pc = browser.new_context(**desktop), browser.new_context(**desktop)
    try:
        leaver_id = Api(live_server.base_url, live_server.username, live_server.password).post(
            "/users", {"username": "sato", "display_name": "佐藤", "password": "sato-pass-1", "role": "editor"}
        )["id"]
        leaver = leavers_pc.new_page()
        _sign_in(leaver, live_server.base_url, "sato", "sato-pass-1")

        page = office.new_page()
        _sign_in(page, live_server.base_url, live_server.username, live_server.password)
        page.get_by_role("link", name="ユーザー管理").click()
        page.get_by_label("ユーザー名", exact=True).fill("tanaka")
        page.get_by_label("表示名", exact=True).fill("田中（協力会社）")
        page.get_by_label("初期パスワード").fill("tanaka-pass-1")
        page.get_by_label("ロール", exact=True).select_option("viewer")
        page.get_by_role("button", name="追加").click()
        page.wait_for_url("**/admin/users")
        added = page.locator("#user-tanaka")
        assert added.locator("td").nth(1).inner_text() == "田中（協力会社）"
        assert added.get_by_label("tanaka のロール").input_value() == "viewer"

        # The leaver is disabled: their open session ends at their next page.
        page.locator("#user-sato").get_by_role("button", name="無効にする").click()
        page.wait_for_url("**/admin/users")
        assert page.locator("#user-sato td").nth(3).inner_text() == "無効"
        _screenshot(page, "users")
        assert_accessible(page)
        leaver.reload()
        assert leaver.url == f"{live_server.base_url}/login?next=/"

        page.get_by_role("link", name="監査ログ").click()
        page.get_by_label("ユーザー名").fill(live_server.username)
        page.get_by_label("操作").select_option("user.update")
        page.get_by_role("button", name="絞り込み").click()
        page.wait_for_url("**/admin/audit?*")
        newest = page.locator("tbody tr").first.locator("td")
        assert newest.all_inner_texts()[1:4] == [live_server.username, "ユーザーの変更", f"user {leaver_id}"]
        _screenshot(page, "audit")
        assert_accessible(page)

        # The monitoring page charts what the real Prometheus scraped from this server.
        page.get_by_role("link", name="監視").click()
        requests_chart = page.get_by_role("img", name=re.compile("^過去1時間のリクエスト数"))
        for _ in range(30):  # bounded: the recording rules need two scrapes, a second apart
            if not (requests_chart.get_attribute("aria-label") or "").endswith("データなし"):
                break
            page.wait_for_timeout(1000)
            page.reload()
        assert re.fullmatch(
            r"過去1時間のリクエスト数（毎秒）。最新 \d+\.\d\d", requests_chart.get_attribute("aria-label") or ""
        )
        assert page.locator(".sparkline path").count() >= 1
        _screenshot(page, "monitoring")
        assert_accessible(page)
    finally:
        office.close()
        leavers_pc.close()


def test_a_writer_compares_two_revisions_and_restores_the_older_one(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    context = browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    try:
        admin = Api(live_server.base_url, live_server.username, live_server.password)
        entry = admin.post(
            "/knowledge",
            {"title": "型枠の存置期間", "summary": "期間", "content": "せき板 3日\n支保工 28日", "category": "品質"},
        )
        response = requests.put(
            f"{live_server.base_url}/api/v1/knowledge/{entry['id']}",
            json={"version": entry["version"], "content": "せき板 5日\n支保工 28日"},
            headers=admin.headers,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        page = context.new_page()
        _sign_in(page, live_server.base_url, live_server.username, live_server.password)
        page.goto(f"{live_server.base_url}/knowledge/{entry['id']}/history")
        assert page.locator("tbody td:first-child").all_inner_texts() == ["第2版", "第1版"]
        page.locator("tbody tr").first.get_by_role("link", name="差分").click()
        assert page.locator(".diff del").all_text_contents() == ["削除: - せき板 3日"]
        assert page.locator(".diff ins").all_text_contents() == ["追加: + せき板 5日"]
        _screenshot(page, "diff")
        assert_accessible(page)
        page.go_back()
        page.locator("tbody tr").nth(1).get_by_role("button", name="この版に戻す").click()
        page.wait_for_url(f"**/knowledge/{entry['id']}")
        assert page.locator(".body").inner_text() == "せき板 3日 支保工 28日"  # one paragraph
        page.get_by_role("link", name="改訂履歴").click()
        assert page.locator("tbody td:first-child").all_inner_texts() == ["第3版", "第2版", "第1版"]
    finally:
        context.close()


def _sign_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(f"{base_url}/")


def test_repeated_wrong_passwords_lock_the_account_with_the_same_message(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    try:
        message = "ユーザー名またはパスワードが正しくありません。"
        for password in [*(["wrong-password"] * LOCKOUT_THRESHOLD), LOCKED[1]]:  # the right one last: locked
            page.goto(f"{live_server.base_url}/login")
            page.get_by_label("ユーザー名").fill(LOCKED[0])
            page.get_by_label("パスワード").fill(password)
            page.get_by_role("button", name="ログイン").click()
            assert page.get_by_role("alert").inner_text() == message
        assert [cookie["name"] for cookie in context.cookies()] == ["mks_csrf"]
    finally:
        context.close()


def test_two_editors_save_the_same_entry_and_the_second_chooses(
    live_server: LiveServer, browser: Browser, entries: dict[str, int]
) -> None:
    first_context = browser.new_context(locale="ja-JP")
    second_context = browser.new_context(locale="ja-JP")
    try:
        admin = Api(live_server.base_url, live_server.username, live_server.password)
        shared = admin.post(
            "/knowledge", {"title": "型枠の解体手順", "summary": "順序", "content": "最初の本文", "category": "安全"}
        )
        edit = f"{live_server.base_url}/knowledge/{shared['id']}/edit"
        first, second = first_context.new_page(), second_context.new_page()
        _sign_in(first, live_server.base_url, live_server.username, live_server.password)
        _sign_in(second, live_server.base_url, *APPROVER)
        first.goto(edit)
        second.goto(edit)
        first.get_by_label("本文（Markdown）").fill("一人目の本文")
        first.get_by_role("button", name="保存").click()
        first.wait_for_url(f"**/knowledge/{shared['id']}")

        second.get_by_label("本文（Markdown）").fill("二人目の本文")
        second.get_by_role("button", name="保存").click()
        conflict = second.get_by_role("alert")
        assert conflict.locator("h2").inner_text() == f"ほかの人が先に保存しました（第{shared['version'] + 1}版）"
        assert conflict.locator("pre").inner_text() == "一人目の本文"
        assert second.get_by_label("本文（Markdown）").input_value() == "二人目の本文"  # nothing lost
        _screenshot(second, "conflict")
        assert_accessible(second)
        second.get_by_role("button", name="保存").click()  # the second chose their own text
        second.wait_for_url(f"**/knowledge/{shared['id']}")
        assert second.locator(".body").inner_text() == "二人目の本文"
    finally:
        first_context.close()
        second_context.close()
