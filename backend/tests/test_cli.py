"""The `mks` command line, run against real databases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session

from mks import migrate
from mks.cli import main
from mks.db import Database, get_session
from mks.demo_corpus import DEMO_ENTRIES
from mks.models import AuditEntry, Knowledge, RevokedToken, User, utcnow
from mks.search import SearchFilters, SearchRequest, backend_for
from mks.search.text import parse_query

from .conftest import Auth, make_settings


def run(database_url: str, tmp_path: Path, *args: str, stdin: str | None = None, **env: str) -> Result:
    """Invoke `mks` with a test environment (plus any extra variables) and the given standard input."""
    environment = {
        "MKS_DATABASE_URL": database_url,
        "MKS_INSTANCE_PATH": str(tmp_path / "instance"),
        "MKS_ENV": "testing",
        "MKS_ARGON2_TIME_COST": "1",
        "MKS_ARGON2_MEMORY_COST_KIB": "64",
        **env,
    }
    return CliRunner().invoke(main, list(args), env=environment, input=stdin, catch_exceptions=False)


def users(database_url: str) -> dict[str, tuple[str, bool]]:
    engine = create_engine(database_url)
    with Session(engine) as session:
        found = {user.username: (user.role, user.is_active) for user in session.scalars(select(User))}
    engine.dispose()
    return found


def test_db_upgrade_current_and_downgrade(empty_database_url: str, tmp_path: Path) -> None:
    head = migrate.head_revision()
    result = run(empty_database_url, tmp_path, "db", "upgrade")
    assert result.exit_code == 0
    assert result.output.strip() == f"スキーマ版: {head}"
    assert run(empty_database_url, tmp_path, "db", "current").output.strip() == f"現在: {head}  最新: {head}"
    assert run(empty_database_url, tmp_path, "db", "downgrade", "base").output.strip() == "スキーマ版: None"
    assert run(empty_database_url, tmp_path, "db", "upgrade").exit_code == 0


@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_migrations_are_not_bound_by_a_requests_statement_timeout(empty_database_url: str, tmp_path: Path) -> None:
    """A migration indexes every entry (a GIN index of 100,000 entries: about 30 s), far beyond a request's
    bound (MKS_DATABASE_STATEMENT_TIMEOUT_SECONDS): its statements run without it, both ways, on the
    engine the app makes. Read where Alembic records each step, on the migration's own connection."""
    database = Database(make_settings(empty_database_url, tmp_path, database_statement_timeout_seconds=7))
    in_effect: list[str] = []

    def read_timeout(connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith(
            ("INSERT INTO alembic_version", "UPDATE alembic_version", "DELETE FROM alembic_version")
        ):
            in_effect.append(connection.connection.driver_connection.execute("SHOW statement_timeout").fetchone()[0])

    event.listen(database.engine, "after_cursor_execute", read_timeout)
    try:
        with database.engine.connect() as connection:
            outside = connection.execute(text("SHOW statement_timeout")).scalar_one()
        migrate.upgrade(database.engine)
        migrate.downgrade(database.engine, "base")
    finally:
        database.engine.dispose()
    assert outside == "7s"
    # One record per revision each way (revision ids are their numbers, from 0001).
    assert in_effect == ["0"] * 2 * int(migrate.head_revision())


def test_create_user_set_password_disable(database_url: str, tmp_path: Path) -> None:
    result = run(
        database_url,
        tmp_path,
        "create-user",
        "suzuki",
        "--role",
        "editor",
        "--display-name",
        "鈴木",
        stdin="suzuki-pass-1\nsuzuki-pass-1\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.endswith("作成しました: suzuki (editor)\n")
    assert users(database_url) == {"suzuki": ("editor", True)}
    duplicate = run(database_url, tmp_path, "create-user", "suzuki", "--password", "another-pass")
    assert duplicate.exit_code == 1
    assert "このユーザー名は既に使われています" in duplicate.output
    short = run(database_url, tmp_path, "create-user", "tanaka", "--password", "short")
    assert short.exit_code == 1
    assert run(database_url, tmp_path, "set-password", "suzuki", "--password", "new-pass-123").exit_code == 0
    assert run(database_url, tmp_path, "disable-user", "suzuki").output.strip() == "無効化しました: suzuki"
    assert users(database_url) == {"suzuki": ("editor", False)}
    missing = run(database_url, tmp_path, "set-password", "ghost", "--password", "whatever-1")
    assert (missing.exit_code, missing.output.strip()) == (1, "Error: ユーザーが見つかりません: ghost")


def test_set_password_and_disable_user_end_sessions(
    app: Flask, client: FlaskClient, auth: Auth, admin: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    before_reset = auth.tokens("yamada")
    assert run(database_url, tmp_path, "set-password", "yamada", "--password", "new-pass-123").exit_code == 0
    assert revoked(client, before_reset)
    login = client.post("/api/v1/auth/login", json={"username": "yamada", "password": "new-pass-123"}).json
    assert run(database_url, tmp_path, "disable-user", "yamada").exit_code == 0
    with app.app_context():
        user_id = get_session().scalar(select(User.id).where(User.username == "yamada"))
    assert client.patch(f"/api/v1/users/{user_id}", json={"is_active": True}, headers=admin).status_code == 200
    assert revoked(client, login)
    entries = client.get(
        "/api/v1/audit", query_string={"action": "user.update", "target_id": user_id}, headers=admin
    ).json["items"]
    assert [(entry["actor_username"], entry["client_address"], entry["details"]) for entry in entries[1:]] == [
        (None, "cli", {"changed_fields": ["is_active"]}),
        (None, "cli", {"changed_fields": ["password"]}),
    ]


def revoked(client: FlaskClient, tokens: dict[str, str]) -> bool:
    """Whether both tokens of a login are refused as revoked."""
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    refresh = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    return [response.json["error"]["code"] for response in (me, refresh)] == ["token_revoked"] * 2


def test_purge_tokens_deletes_expired_revocations(app: Flask, database_url: str, tmp_path: Path) -> None:
    with app.app_context():
        session = get_session()
        admin_id = session.scalar(select(User.id).where(User.username == "admin"))
        for jti, expires_in in (("expired-1", -60), ("expired-2", -1), ("live-1", 3600)):
            session.add(RevokedToken(jti=jti, user_id=admin_id, expires_at=utcnow() + timedelta(seconds=expires_in)))
        session.commit()
    result = run(database_url, tmp_path, "purge-tokens")
    assert (result.exit_code, result.output) == (0, "期限切れの失効トークンを 2 件削除しました。\n")
    with app.app_context():
        assert list(get_session().scalars(select(RevokedToken.jti))) == ["live-1"]
    again = run(database_url, tmp_path, "purge-tokens")
    assert again.output == "期限切れの失効トークンを 0 件削除しました。\n"


def test_seed_demo_is_idempotent(database_url: str, tmp_path: Path) -> None:
    first = run(database_url, tmp_path, "seed-demo")
    assert first.output.strip() == f"デモデータを投入しました（ナレッジ {len(DEMO_ENTRIES)} 件）。"
    second = run(database_url, tmp_path, "seed-demo")
    assert second.output.strip() == "デモデータを投入しました（ナレッジ 0 件）。"
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
    engine.dispose()
    assert users(database_url) == {
        "admin": ("admin", True),
        "kondo": ("approver", True),
        "yamada": ("editor", True),
        "partner": ("viewer", True),
    }


def audit_rows(database_url: str) -> list[tuple[str, str | None, str | None, dict[str, object]]]:
    """Every audit entry as (action, actor_username, client_address, details), oldest first."""
    engine = create_engine(database_url)
    with Session(engine) as session:
        statement = select(AuditEntry).order_by(AuditEntry.id)
        rows = [(e.action, e.actor_username, e.client_address, e.details) for e in session.scalars(statement)]
    engine.dispose()
    return rows


def test_every_command_that_changes_data_is_audited_as_the_cli(database_url: str, tmp_path: Path) -> None:
    assert run(database_url, tmp_path, "create-user", "suzuki", "--password", "suzuki-pass-1").exit_code == 0
    assert run(database_url, tmp_path, "set-password", "suzuki", "--password", "suzuki-pass-2").exit_code == 0
    assert run(database_url, tmp_path, "disable-user", "suzuki").exit_code == 0
    assert run(database_url, tmp_path, "seed-demo").exit_code == 0
    assert run(database_url, tmp_path, "purge-tokens").exit_code == 0
    rows = audit_rows(database_url)
    cli = [(action, details) for action, actor, address, details in rows if (actor, address) == (None, "cli")]
    assert cli == [
        ("user.create", {"role": "viewer"}),
        ("user.update", {"changed_fields": ["password"]}),
        ("user.update", {"changed_fields": ["is_active"]}),
        ("user.create", {"role": "admin"}),
        ("user.create", {"role": "approver"}),
        ("user.create", {"role": "editor"}),
        ("user.create", {"role": "viewer"}),
        ("auth.tokens_purge", {"deleted": 0}),
    ]
    # The demo entries are the demo author's, written by the CLI.
    authored = [(action, actor, address) for action, actor, address, _ in rows if action == "knowledge.create"]
    assert authored == [("knowledge.create", "yamada", "cli")] * len(DEMO_ENTRIES)


@pytest.mark.parametrize("command", [["--help"], ["db", "--help"]])
def test_help_is_japanese(command: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0
    assert "データベース" in result.output or "管理コマンド" in result.output


def _search_total(database_url: str, query: str) -> int:
    engine = create_engine(database_url)
    request = SearchRequest(parse_query(query).terms, SearchFilters(), limit=20, offset=0, exact_total=10_000)
    with engine.connect() as connection:
        total = backend_for(engine.dialect.name).search(connection, request).total
    engine.dispose()
    return total


def test_search_reindex_rebuilds_the_index_from_the_entries(database_url: str, tmp_path: Path) -> None:
    assert run(database_url, tmp_path, "seed-demo").exit_code == 0
    indexed = _search_total(database_url, "養生")
    assert indexed > 0
    engine = create_engine(database_url)
    with engine.begin() as connection:
        backend_for(engine.dialect.name).clear(connection)
    engine.dispose()
    assert _search_total(database_url, "養生") == 0
    result = run(database_url, tmp_path, "search", "reindex")
    assert result.exit_code == 0
    engine = create_engine(database_url)
    with engine.connect() as connection:
        learned = connection.execute(text("SELECT count(*) FROM search_words")).scalar_one()
    engine.dispose()
    # The demo's tags hold words that every demo entry's neighbours share: some are learned.
    assert learned > 0
    # Not a terminal: progress is a line at each tenth, on stderr.
    assert result.stdout == (
        f"検索索引を作り直しました（ナレッジ {len(DEMO_ENTRIES)} 件、1 語として索引する語 {learned} 語、"
        f"うち今回追加 {learned} 語）。\n"
    )
    assert result.stderr.splitlines()[0] == "検索索引の再作成: 0%"
    assert result.stderr.splitlines()[-1] == "検索索引の再作成: 100%"
    assert _search_total(database_url, "養生") == indexed


UPSTREAM_CSV = (
    "title,summary,category,owner,content,tags,status,priority,project,external_id\n"
    "鉄筋のかぶり厚さ確認,配筋検査の要点,品質,工事部,スペーサーの間隔を測る。,鉄筋、かぶり厚さ,approved,high,P-001,old-1\n"
    "足場の始業前点検,,安全,,手すりを確認する。,足場,,,,old-2\n"
)


def _add_admin(database_url: str, tmp_path: Path) -> Result:
    return run(database_url, tmp_path, "create-user", "admin", "--role", "admin", "--password", "admin-pass-1")


def test_import_reports_invalid_rows_by_number_and_imports_nothing_then_skips_them(
    database_url: str, tmp_path: Path
) -> None:
    assert (
        run(database_url, tmp_path, "create-user", "admin", "--role", "admin", "--password", "admin-pass-1").exit_code
        == 0
    )
    path = tmp_path / "upstream.csv"
    path.write_text(UPSTREAM_CSV + ",要約だけ,品質,,,,,,,old-3\n")
    refused = run(database_url, tmp_path, "import", str(path), "--json")
    assert refused.exit_code == 1
    assert refused.stderr.splitlines() == [
        "4 行目 title: 必須項目です。（missing）",
        "Error: 1 行が不正なため、何も取り込んでいません（全 3 行）。",
    ]
    assert json.loads(refused.stdout) == {
        "error": {
            "code": "invalid_rows",
            "message": "1 行が不正なため、何も取り込んでいません（全 3 行）。",
            "details": [{"row": 4, "field": "title", "type": "missing", "message": "必須項目です。"}],
        }
    }
    assert _search_total(database_url, "かぶり厚さ") == 0

    skipped = run(database_url, tmp_path, "import", str(path), "--skip-invalid")
    assert skipped.exit_code == 0, skipped.output
    assert (
        skipped.stdout == "取り込みました: 2 件（全 3 行、取り込み済みのため飛ばした行 0、不正なため飛ばした行 1）。\n"
    )
    assert "取り込み中: 100%" in skipped.stderr
    assert _search_total(database_url, "かぶり厚さ") == 1
    again = run(database_url, tmp_path, "import", str(path), "--skip-invalid", "--json")
    assert {name: json.loads(again.stdout)[name] for name in ("rows", "imported", "already_imported", "invalid")} == {
        "rows": 3,
        "imported": 0,
        "already_imported": 2,
        "invalid": 1,
    }


def test_export_writes_a_file_that_imports_again(database_url: str, tmp_path: Path) -> None:
    assert (
        run(database_url, tmp_path, "create-user", "admin", "--role", "admin", "--password", "admin-pass-1").exit_code
        == 0
    )
    source = tmp_path / "upstream.csv"
    source.write_text(UPSTREAM_CSV)
    assert run(database_url, tmp_path, "import", str(source), "--user", "admin").exit_code == 0
    exported = tmp_path / "all.jsonl"
    result = run(database_url, tmp_path, "export", str(exported), "--revisions")
    assert result.stdout == f"書き出しました: {exported}（ナレッジ 2 件）\n"
    assert [json.loads(line)["external_id"] for line in exported.read_text().splitlines()] == ["old-1", "old-2"]
    again = run(database_url, tmp_path, "import", str(exported))
    assert again.stdout.startswith("取り込みました: 0 件（全 2 行、取り込み済みのため飛ばした行 2、")
    refused = run(database_url, tmp_path, "export", str(tmp_path / "all.csv"), "--revisions")
    assert (refused.exit_code, refused.stderr) == (1, "Error: 履歴を含む書き出しは JSON Lines（.jsonl）だけです。\n")
    unknown = run(database_url, tmp_path, "export", str(tmp_path / "all.xlsx"))
    assert unknown.stderr == "Error: CSV（.csv）または JSON Lines（.jsonl）のファイルを指定してください。\n"
