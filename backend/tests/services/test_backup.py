"""`mks backup` / `mks restore`, round-tripped on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from mks import migrate
from mks.cli import _progress, main
from mks.context import service_context
from mks.db import Base, build_engine, get_session
from mks.models import Status, User
from mks.schemas.knowledge import KnowledgeCreate, KnowledgeUpdate
from mks.schemas.users import UserCreate, UserUpdate
from mks.services import categories, users
from mks.services.backup import _pg_arguments, _pg_environment, create_backup
from mks.services.knowledge import attachments, workflow, writes

from ..conftest import PASSWORDS, make_settings, postgres_database
from ..test_cli import run

SUFFIX = {"sqlite": ".sqlite3", "postgresql": ".dump"}
# Every table of the schema; the search index tables are compared separately (they are not models).
TABLES = tuple(table.name for table in Base.metadata.sorted_tables)
# Tables created after revision 0002 (a backup taken there has none of them).
TABLES_AFTER_0002 = frozenset(
    {"audit_log", "synonym_sets", "synonym_words", "knowledge_templates", "notifications", "attachments", "import_jobs"}
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
TABLES_AT_0002 = tuple(name for name in TABLES if name not in TABLES_AFTER_0002)
# Columns added to those tables after revision 0002 (a backup taken there has them as their defaults).
COLUMNS_AFTER_0002 = frozenset(
    {"token_generation", "review_due", "pending_revision", "comment", "email", "external_id"}
)
SEARCH_INDEX = {
    "sqlite": "SELECT knowledge_id, title, summary, content, tags FROM knowledge_search_text ORDER BY knowledge_id",
    "postgresql": "SELECT * FROM knowledge_search ORDER BY knowledge_id",
}
ENTRIES = [
    {
        "title": "寒中コンクリートの加熱養生",
        "summary": "養生温度を 5℃ 以上に保つ",
        "content": "ジェットヒーターで加熱し、温度記録を残す。",
        "category": "品質",
        "tags": ["養生", "冬期"],
        "status": "approved",
    },
    {
        "title": "散水養生の期間",
        "summary": "夏期の湿潤養生",
        "content": "打設後 5 日間は散水を続ける。",
        "category": "品質",
        "tags": ["養生"],
        "status": "approved",
    },
    {
        "title": "足場の始業前点検",
        "summary": "手すりと筋かいの確認",
        "content": "緊結金具の緩みを点検し、記録する。",
        "category": "設備",
        "tags": ["安全", "足場"],
        "status": "draft",
    },
]
BACKUP_LINE = re.compile(r"^バックアップを作成しました: (.+)（[0-9.]+ (バイト|KB|MB|GB)）$", re.MULTILINE)


def dialect(database_url: str) -> str:
    return make_url(database_url).get_backend_name()


def contents(
    database_url: str,
    tables: tuple[str, ...] = TABLES,
    left_out: frozenset[str] = frozenset(),
    *,
    search_index: bool = True,
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables (but the columns left out) and of the search index, in primary key order.

    ``search_index=False`` leaves the index out: its tables change with the schema version (0006).
    """
    engine = create_engine(database_url)
    found: dict[str, list[tuple[Any, ...]]] = {}
    try:
        with engine.connect() as connection:
            for name in tables:
                table = Base.metadata.tables[name]
                columns = [column for column in table.columns if column.name not in left_out]
                rows = connection.execute(select(*columns).order_by(*table.primary_key.columns))
                found[name] = [tuple(row) for row in rows]
            if search_index:
                index = connection.execute(text(SEARCH_INDEX[dialect(database_url)]))
                found["search index"] = [tuple(row) for row in index]
    finally:
        engine.dispose()
    return found


def user(username: str) -> User:
    found = get_session().scalar(select(User).where(User.username == username))
    assert found is not None
    return found


def populate(app: Flask) -> list[int]:
    """Users, a new category, tagged entries and an approved change of the first; returns the entry ids.

    The entries are brought in as an import would, each in its status; the change of the approved
    first entry goes through the review workflow (saved pending, submitted, approved by another user).
    """
    with app.app_context():
        ctx, admin, editor = service_context(), user("admin"), user("yamada")
        users.create_user(ctx, UserCreate(username="suzuki", display_name="鈴木", password="suzuki-pass-1"), admin)
        categories.create_category(ctx, "設備", admin)
        ids: list[int] = []
        for body in ENTRIES:
            fields = dict(body)
            status = Status(str(fields.pop("status")))
            ids.append(writes.create_knowledge(ctx, KnowledgeCreate.model_validate(fields), admin, status=status).id)
        pending = writes.update_knowledge(ctx, ids[0], KnowledgeUpdate(tags=["養生", "冬期", "保温"]), editor)
        submitted = workflow.take_step(ctx, ids[0], workflow.SUBMIT, pending.version, None, editor)
        workflow.take_step(ctx, ids[0], workflow.APPROVE, submitted.version, "保温のタグを追加", admin)
        attachments.add_attachments(ctx, ids[1], [("打設記録.pdf", PDF)], editor)
    app.extensions["mks_db"].engine.dispose()  # the CLI's pg_restore must not wait on the app's connections
    return ids


def change(app: Flask, ids: list[int]) -> None:
    """What happens after the backup: an entry deleted, another added, a password changed, a file deleted."""
    with app.app_context():
        ctx, admin = service_context(), user("admin")
        writes.delete_knowledge(ctx, ids[0], admin)
        for item in attachments.list_attachments(ctx, ids[1], admin):
            attachments.delete_attachment(ctx, item.id, admin)
        entry = KnowledgeCreate(title="鉄骨建方の精度管理", content="建入れ直しを確認する。", category="電気")
        categories.create_category(ctx, "電気", admin)
        writes.create_knowledge(ctx, entry, admin)
        users.update_user(ctx, user("yamada").id, UserUpdate(password="changed-pass-1"), actor=admin)
    app.extensions["mks_db"].engine.dispose()


def backup(database_url: str, tmp_path: Path, *args: str) -> Path:
    result = run(database_url, tmp_path, "backup", *args)
    assert result.exit_code == 0, result.output
    match = BACKUP_LINE.search(result.stdout)
    assert match is not None, result.stdout
    return Path(match.group(1))


def search_ids(client: FlaskClient, headers: dict[str, str], query: str) -> set[int]:
    response = client.get("/api/v1/knowledge/search", query_string={"q": query}, headers=headers)
    assert response.status_code == 200, response.json
    return {item["id"] for item in response.json["items"]}  # type: ignore[index]


def login(client: FlaskClient, username: str, password: str) -> int:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}).status_code


def test_round_trip_restores_every_row_and_the_search_index(
    app: Flask, client: FlaskClient, database_url: str, tmp_path: Path
) -> None:
    ids = populate(app)
    before = contents(database_url)
    # Revisions: one per entry, the first entry's change saved pending, submitted and approved, and the
    # second's attachment (a pending change of the approved entry).
    assert len(before["knowledge"]) == 3 and len(before["knowledge_revisions"]) == 7

    result = run(database_url, tmp_path, "backup")
    assert result.exit_code == 0, result.output
    match = BACKUP_LINE.search(result.stdout)
    assert match is not None, result.stdout
    path = Path(match.group(1))
    assert path.parent == (tmp_path / "instance" / "backups").resolve()
    assert re.fullmatch(r"mks-\d{8}-\d{6}" + re.escape(SUFFIX[dialect(database_url)]), path.name)
    assert path.stat().st_mode & 0o777 == 0o600  # it holds password hashes
    assert "バックアップ中: 0%" in result.stderr and "バックアップ中: 100%" in result.stderr
    # No scratch file left behind; the attachment files beside the database's.
    assert sorted(entry.name for entry in path.parent.iterdir()) == [path.name, f"{path.name}.attachments"]
    assert f"添付ファイル 1 個: {path}.attachments" in result.stdout.splitlines()

    change(app, ids)
    changed = contents(database_url)
    assert changed != before
    restored = run(database_url, tmp_path, "restore", str(path), "--yes")
    assert restored.exit_code == 0, restored.output
    head = migrate.head_revision()
    assert restored.stdout.splitlines() == [
        f"復元しました: {path}（スキーマ版 {head} → {head}）",
        "ナレッジ 3 件、ユーザー 5 人、添付ファイル 1 個を戻しました",  # the fixture's four accounts and suzuki
    ]
    # One line per 10%: the copy runs in small enough steps (pages, pg_restore items) to pass every mark.
    assert re.findall(r"^復元中: (\d+)%$", restored.stderr, re.MULTILINE) == [str(n) for n in range(0, 101, 10)]

    assert contents(database_url) == before

    # Only now touch the app: logging in and searching write last_seen_at and the audit log.
    assert login(client, "yamada", "changed-pass-1") == 401
    assert login(client, "yamada", PASSWORDS["yamada"]) == 200
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORDS["admin"]}).json
    headers = {"Authorization": f"Bearer {token['access_token']}"}  # type: ignore[index]
    assert search_ids(client, headers, "養生") == {ids[0], ids[1]}  # 2 characters: the unigram/bigram index
    assert search_ids(client, headers, "加熱養生") == {ids[0]}  # 3+ characters: the trigram index
    assert search_ids(client, headers, "保温") == {ids[0]}  # a tag only the approved change has
    assert search_ids(client, headers, "鉄骨建方") == set()  # added after the backup
    assert search_ids(client, headers, "足場 点検") == {ids[2]}
    files = client.get(f"/api/v1/knowledge/{ids[1]}/attachments", headers=headers).json["items"]
    assert [(item["filename"], item["size"]) for item in files] == [("打設記録.pdf", len(PDF))]
    with client.get(f"/api/v1/attachments/{files[0]['id']}", headers=headers) as download:
        assert download.data == PDF  # the file is back too


def test_restore_brings_an_older_backup_to_the_current_schema(app: Flask, database_url: str, tmp_path: Path) -> None:
    ids = populate(app)
    assert run(database_url, tmp_path, "db", "downgrade", "0002").exit_code == 0
    before = contents(database_url, TABLES_AT_0002, COLUMNS_AFTER_0002, search_index=False)
    path = backup(database_url, tmp_path, str(tmp_path / f"old{SUFFIX[dialect(database_url)]}"))
    assert run(database_url, tmp_path, "db", "upgrade").exit_code == 0
    change(app, ids)

    # PostgreSQL: audit_log (newer than the backup) has a foreign key to users, which pg_restore drops.
    restored = run(database_url, tmp_path, "restore", str(path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert f"（スキーマ版 0002 → {migrate.head_revision()}）" in restored.stdout
    assert contents(database_url, TABLES_AT_0002, COLUMNS_AFTER_0002, search_index=False) == before
    upgraded = contents(database_url)
    assert upgraded["audit_log"] == []
    # The upgrade rebuilt the search index of the restored entries in the current schema's tables.
    assert [row[0] for row in upgraded["search index"]] == [row[0] for row in upgraded["knowledge"]]


@pytest.mark.parametrize("kind", ["text", "other-sqlite", "empty"])
def test_restoring_a_file_that_is_not_an_mks_backup_is_refused(
    app: Flask, database_url: str, tmp_path: Path, kind: str
) -> None:
    populate(app)
    before = contents(database_url)
    path = tmp_path / f"other{SUFFIX[dialect(database_url)]}"
    if kind == "text":
        path.write_text("これはバックアップではありません\n" * 100)
    elif kind == "other-sqlite":
        with closing(sqlite3.connect(path)) as other:
            other.execute("CREATE TABLE knowledge (id INTEGER PRIMARY KEY)")
            other.commit()
    else:
        path.touch()
    result = run(database_url, tmp_path, "restore", str(path), "--yes")
    assert result.exit_code == 1
    assert f"Error: MKS のバックアップではありません: {path}" in result.output
    assert contents(database_url) == before


def test_restore_asks_first_and_answering_no_changes_nothing(app: Flask, database_url: str, tmp_path: Path) -> None:
    ids = populate(app)
    path = backup(database_url, tmp_path)
    change(app, ids)
    changed = contents(database_url)
    result = run(database_url, tmp_path, "restore", str(path), stdin="n\n")
    assert result.exit_code == 1
    assert f"の内容をすべて {path}（スキーマ版 {migrate.head_revision()}）の内容で置き換えます。" in result.output
    assert "Error: 復元を中止しました（データベースは変更していません）。" in result.output
    assert "復元中" not in result.output
    assert contents(database_url) == changed
    confirmed = run(database_url, tmp_path, "restore", str(path), stdin="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert contents(database_url) != changed


def test_backup_never_overwrites_and_refuses_missing_files(database_url: str, tmp_path: Path) -> None:
    path = backup(database_url, tmp_path, str(tmp_path / f"fixed{SUFFIX[dialect(database_url)]}"))
    size = path.stat().st_size
    again = run(database_url, tmp_path, "backup", str(path))
    assert again.exit_code == 1
    assert f"Error: ファイルが既に存在します（上書きはしません）: {path}" in again.output
    assert path.stat().st_size == size
    missing = run(database_url, tmp_path, "restore", str(tmp_path / "missing.dump"), "--yes")
    assert missing.exit_code == 1
    assert "Error: バックアップファイルが見つかりません" in missing.output


def test_backup_from_a_newer_mks_is_refused(database_url: str, tmp_path: Path) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    path = backup(database_url, tmp_path)
    result = run(database_url, tmp_path, "restore", str(path), "--yes")
    assert result.exit_code == 1
    assert "このバックアップのスキーマ版 (9999) はこの MKS では扱えません" in result.output


def test_missing_pg_dump_is_explained(postgres_template: str, tmp_path: Path) -> None:
    with postgres_database(postgres_template) as url:
        result = run(url, tmp_path, "backup", PATH=str(tmp_path))
    assert result.exit_code == 1
    assert "Error: pg_dump が見つかりません。" in result.output
    assert not list((tmp_path / "instance" / "backups").iterdir())


def test_pg_password_goes_to_the_environment_not_the_command_line() -> None:
    url = make_url("postgresql+psycopg://mks:s3cret@db.example:6543/mks?sslmode=require")
    arguments = _pg_arguments(url)
    assert arguments == ["--no-password", "--host=db.example", "--port=6543", "--username=mks", "--dbname=mks"]
    environment = _pg_environment(url)
    assert (environment["PGPASSWORD"], environment["PGSSLMODE"]) == ("s3cret", "require")


@pytest.mark.parametrize("command", [["backup", "--help"], ["restore", "--help"]])
def test_help_is_japanese(command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0
    assert "バックアップ" in result.output


def test_sqlite_backup_is_one_snapshot_while_the_app_writes(sqlite_template: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, live)
    settings = make_settings(f"sqlite:///{live}", tmp_path / "instance")
    engine, writer = build_engine(settings), build_engine(settings)
    writer.connect().close()  # switches the file to WAL, as the running app has
    written: list[int] = []

    def write_midway(done: int, total: int) -> None:
        if 0 < done < total and not written:
            with writer.begin() as connection:
                connection.execute(text("INSERT INTO categories (name, created_at) VALUES ('途中', CURRENT_TIMESTAMP)"))
            written.append(done)

    path = tmp_path / "snapshot.sqlite3"
    try:
        create_backup(engine, path, write_midway)
    finally:
        engine.dispose()
        writer.dispose()
    assert written  # the app committed while the copy was under way, without waiting for it
    names = {f"sqlite:///{live}": set[str](), f"sqlite:///{path}": set[str]()}
    for url in names:
        contents_engine = create_engine(url)
        with contents_engine.connect() as connection:
            names[url] = set(connection.scalars(text("SELECT name FROM categories")))
        contents_engine.dispose()
    assert names[f"sqlite:///{live}"] - names[f"sqlite:///{path}"] == {"途中"}
    assert sorted(entry.name for entry in tmp_path.iterdir() if entry.name.startswith("snapshot")) == [path.name]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _progress("復元中") as report:
        for done in range(11):
            report(done, 10)
    assert "復元中" in terminal.getvalue()
    assert "100%" in terminal.getvalue()
    assert "復元中: " not in terminal.getvalue()  # not the line-per-10% form
