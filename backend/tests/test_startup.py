"""First start: migrations run by themselves, demo data appears in development, production refuses unsafe setups."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, inspect, select

from mks import migrate
from mks.app import create_app
from mks.config import ConfigError, Settings
from mks.db import get_session
from mks.demo_corpus import DEMO_ENTRIES
from mks.models import Knowledge, KnowledgeRevision, User
from mks.startup import prepare

from .conftest import add_admin, database_outage, make_settings, postgres_database
from .servers import BACKEND, backend_env, free_port

MKS = str(Path(sys.executable).parent / "mks")


def prepared_app(settings: Settings) -> Flask:
    """The app after the start-up step, as every entry point builds it."""
    prepare(settings)
    return create_app(settings)


def test_first_start_migrates_and_seeds_demo_data(empty_database_url: str, tmp_path: Path) -> None:
    app = prepared_app(make_settings(empty_database_url, tmp_path, env="development", demo_data=None))
    with app.app_context():
        session = get_session()
        assert migrate.current_revision(app.extensions["mks_db"].engine) == migrate.head_revision()
        assert sorted(session.scalars(select(User.username))) == ["admin", "kondo", "partner", "yamada"]
        assert session.scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
        assert session.scalar(select(func.count()).select_from(KnowledgeRevision)) == len(DEMO_ENTRIES)
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin123"})
    assert login.status_code == 200
    hits = client.get(
        "/api/v1/knowledge/search",
        query_string={"q": "養生"},
        headers={"Authorization": f"Bearer {login.json['access_token']}"},
    ).json
    assert hits["total"] >= 4
    assert all("<mark>" in item["snippet"] for item in hits["items"])
    app.extensions["mks_db"].engine.dispose()


def test_second_start_changes_nothing(empty_database_url: str, tmp_path: Path) -> None:
    settings = make_settings(empty_database_url, tmp_path, env="development", demo_data=None)
    prepare(settings)
    app = prepared_app(settings)
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
    app.extensions["mks_db"].engine.dispose()


def test_testing_and_production_start_without_demo_data(empty_database_url: str, tmp_path: Path) -> None:
    app = prepared_app(make_settings(empty_database_url, tmp_path, env="testing"))
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(User)) == 0
        assert set(inspect(app.extensions["mks_db"].engine).get_table_names()) >= {
            "knowledge",
            "users",
            "alembic_version",
        }
    app.extensions["mks_db"].engine.dispose()


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "MKS_JWT_SECRET_KEY の設定が必要です"),
        ("too-short-secret", "MKS_JWT_SECRET_KEY が短すぎます（16 バイト）"),
    ],
)
def test_production_refuses_missing_or_short_secret(
    database_url: str, tmp_path: Path, secret: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        prepare(make_settings(database_url, tmp_path, env="production", jwt_secret_key=secret))


def test_production_refuses_valid_demo_passwords(empty_database_url: str, tmp_path: Path) -> None:
    dev = make_settings(empty_database_url, tmp_path, env="development", demo_data=None)
    prepare(dev)
    production = make_settings(empty_database_url, tmp_path, env="production")
    demo_users = "admin, kondo, yamada, partner"
    with pytest.raises(ConfigError, match=f"デモ用パスワードが有効なままのユーザーがいます: {demo_users}"):
        prepare(production)
    app = create_app(dev)
    with app.app_context():
        session = get_session()
        for user in session.scalars(select(User)):
            user.is_active = user.username == "admin"
        session.commit()
    with pytest.raises(ConfigError, match="ユーザーがいます: admin。"):
        prepare(production)
    app.extensions["mks_db"].engine.dispose()


def test_postgres_with_c_locale_searches_japanese(postgres_template: str, tmp_path: Path) -> None:
    """No text search parser sees the bigrams (they are cast, quoted), so LC_CTYPE=C drops none of them."""
    with postgres_database("template0", ctype="C") as url:
        settings = make_settings(url, tmp_path)
        prepare(settings)
        app = create_app(settings)
        client = app.test_client()
        add_admin(url, tmp_path, "admin-pass-1")
        token = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-pass-1"}).json
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        body = {"title": "鉄筋のかぶり厚さ", "summary": "", "content": "", "tags": [], "category": "品質"}
        created = client.post("/api/v1/knowledge", json=body, headers=headers)
        assert created.status_code == 201, created.json
        found = client.get("/api/v1/knowledge/search", query_string={"q": "カブリ 筋"}, headers=headers).json
        assert [item["id"] for item in found["items"]] == [created.json["id"]]
        app.extensions["mks_db"].engine.dispose()


def test_postgres_without_utf8_is_refused(postgres_template: str, tmp_path: Path) -> None:
    """A LATIN1 database cannot hold Japanese text: the app must say so before anyone writes."""
    with (
        postgres_database("template0", ctype="C", encoding="LATIN1") as url,
        pytest.raises(ConfigError, match=r"文字コード \(LATIN1\) では日本語の検索索引を保存できません"),
    ):
        prepare(make_settings(url, tmp_path))


def test_two_instances_starting_at_once_migrate_and_seed_once(empty_database_url: str, tmp_path: Path) -> None:
    settings = make_settings(empty_database_url, tmp_path, env="development", demo_data=None)
    start_together = threading.Barrier(2)
    outcomes: list[str] = []

    def start() -> None:
        start_together.wait(timeout=30)
        try:
            prepare(settings)
            outcomes.append("started")
        except Exception as exc:  # the outcome under test: each start either succeeds or says why
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == ["started", "started"]
    app = create_app(settings)
    with app.app_context():
        session = get_session()
        assert sorted(session.scalars(select(User.username))) == ["admin", "kondo", "partner", "yamada"]
        assert session.scalar(select(func.count()).select_from(Knowledge)) == len(DEMO_ENTRIES)
    app.extensions["mks_db"].engine.dispose()


class _Seen(logging.Handler):
    """Sets an event when a record with the given message start is logged."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.event.set()


def test_start_up_waits_for_an_unreachable_database(postgres_template: str, tmp_path: Path) -> None:
    with postgres_database(postgres_template) as url:
        handle = create_app(make_settings(url, tmp_path / "handle"))
        retrying = _Seen("database unreachable at start-up, retrying")
        logging.getLogger("mks.startup").addHandler(retrying)
        started: list[object] = []
        starter = threading.Thread(
            target=lambda: started.append(prepared_app(make_settings(url, tmp_path, startup_wait_seconds=120)))
        )
        try:
            with database_outage(handle):
                starter.start()
                assert retrying.event.wait(timeout=60)
            starter.join(timeout=120)
        finally:
            logging.getLogger("mks.startup").removeHandler(retrying)
        assert len(started) == 1
        with handle.app_context():
            assert migrate.current_revision(handle.extensions["mks_db"].engine) == migrate.head_revision()
        started[0].extensions["mks_db"].engine.dispose()  # type: ignore[attr-defined]
        handle.extensions["mks_db"].engine.dispose()


def test_start_up_refuses_after_waiting_for_an_unreachable_database(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "mks.sqlite3"
    with pytest.raises(ConfigError, match=r"データベースに 0\.5 秒間接続できませんでした（.*）。"):
        prepare(make_settings(f"sqlite:///{missing}", tmp_path, startup_wait_seconds=0.5))


def test_reading_the_settings_writes_no_secret_and_the_start_up_step_writes_it_once(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url, tmp_path / "instance", env="development", jwt_secret_key=None)
    secret_file = tmp_path / "instance" / "jwt-secret"
    with pytest.raises(ConfigError, match=f"JWT の秘密鍵ファイル {secret_file} がありません。"):
        create_app(settings)
    assert not secret_file.exists()
    caplog.set_level(logging.INFO, logger="mks.startup")
    prepare(settings)
    secret = secret_file.read_text()
    assert len(secret) == 64 and secret_file.stat().st_mode & 0o777 == 0o600
    assert f"generated a JWT secret in {secret_file} (set MKS_JWT_SECRET_KEY to use your own)" in caplog.messages
    prepare(settings)  # a second start keeps it: tokens signed before a restart stay valid
    assert secret_file.read_text() == secret
    app = create_app(settings)
    assert app.extensions["mks_token_keys"].secret == secret
    app.extensions["mks_db"].engine.dispose()


def test_a_relative_instance_path_is_taken_from_the_backend_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MKS_INSTANCE_PATH", raising=False)
    assert Settings(_env_file=None).instance_path == BACKEND / "instance"  # type: ignore[call-arg]
    monkeypatch.setenv("MKS_INSTANCE_PATH", "instance/elsewhere")
    assert Settings(_env_file=None).instance_path == BACKEND / "instance" / "elsewhere"  # type: ignore[call-arg]


def test_the_start_up_step_run_from_another_folder_writes_into_the_backend_folder(tmp_path: Path) -> None:
    relative = f"instance/test-{uuid.uuid4().hex}"  # under backend/instance/, which git ignores
    env = backend_env(Path(relative), database_url=f"sqlite:///{tmp_path / 'mks.sqlite3'}", env="development")
    try:
        result = subprocess.run(
            [MKS, "prepare"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert (result.returncode, result.stdout) == (0, "起動処理が完了しました。\n"), result.stderr
        secret_file = BACKEND / relative / "jwt-secret"
        assert f"generated a JWT secret in {secret_file} (set MKS_JWT_SECRET_KEY to use your own)" in result.stderr
        assert len(secret_file.read_text()) == 64
        assert sorted(path.name for path in tmp_path.iterdir()) == ["mks.sqlite3", "mks.sqlite3.lock"]
    finally:
        shutil.rmtree(BACKEND / relative, ignore_errors=True)


# Imports the WSGI module on a database that cannot be reached, then reports what its pool did.
_IMPORT_WSGI = """
from mks.wsgi import app
pool = app.extensions["mks_db"].engine.pool
print(pool.checkedin(), pool.checkedout())
"""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_importing_the_wsgi_module_touches_no_database(tmp_path: Path, database: str) -> None:
    sqlite_file = tmp_path / "no-such-folder" / "mks.sqlite3"
    url = {
        "sqlite": f"sqlite:///{sqlite_file}",
        "postgresql": f"postgresql+psycopg://mks:secret@127.0.0.1:{free_port()}/mks",  # nobody listens
    }[database]
    env = backend_env(tmp_path / "instance", database_url=url, jwt_secret_key="wsgi-test-secret-" + "x" * 32)
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_WSGI], cwd=BACKEND, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout) == (0, "0 0\n"), result.stderr  # no connection ever opened
    assert not sqlite_file.parent.exists()
