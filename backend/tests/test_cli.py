"""The `mks` command line, run against real databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from mks import migrate
from mks.cli import main
from mks.demo_corpus import DEMO_ENTRIES
from mks.models import Knowledge, User


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


def test_seed_demo_is_idempotent(database_url: str, tmp_path: Path) -> None:
    first = run(database_url, tmp_path, "seed-demo")
    assert first.output.strip() == f"デモデータを投入しました（ナレッジ {len(DEMO_ENTRIES)} 件）。"
    second = run(database_url, tmp_path, "seed-demo")
    assert second.output.strip() == "デモデータを投入しました（ナレッジ 0 件）。"
    engine = create_engine(database_url)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
    engine.dispose()
    assert users(database_url) == {"admin": ("admin", True), "yamada": ("editor", True), "partner": ("viewer", True)}


@pytest.mark.parametrize("command", [["--help"], ["db", "--help"]])
def test_help_is_japanese(command: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0
    assert "データベース" in result.output or "管理コマンド" in result.output
