"""The start-up step, run once before serving: the development JWT secret, migrations, sanity checks, demo data.

``prepare(settings)`` is called by every way of serving: gunicorn's master (gunicorn.conf.py
``on_starting``) before any worker forks, ``python app_v2.py``, ``mks serve --dev`` and ``mks prepare``.
``create_app`` never touches the database, so a worker restarted during a database outage comes up
and answers 503 until the database is back. Two instances starting at once take turns through a
lock (a PostgreSQL advisory lock, or a file lock beside a SQLite database).
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from . import migrate
from .config import ConfigError, Environment, Settings
from .db import Database
from .demo import DEMO_USERS, seed_demo
from .models import User
from .search import SearchBackend
from .search.sync import install_sync
from .services.context import Context, Dependencies

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock held while one process migrates, checks and seeds.
STARTUP_LOCK_KEY = 0x4D4B53  # "MKS"
RETRY_INTERVAL_SECONDS = 1.0


def show_progress(*handlers: logging.Handler) -> None:
    """Show the step's progress (migrations, a generated secret, retries) through the handlers, else on stderr."""
    log.setLevel(logging.INFO)
    if log.handlers:  # already shown: a second call must not print every line twice
        return
    for handler in handlers or (logging.StreamHandler(),):
        log.addHandler(handler)


def ensure_jwt_secret(settings: Settings) -> None:
    """Outside production without MKS_JWT_SECRET_KEY, write a random JWT secret file once, for every process to read."""
    if settings.jwt_secret_key or settings.env is Environment.PRODUCTION or settings.jwt_secret_file.exists():
        return
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    settings.jwt_secret_file.touch(mode=0o600)
    settings.jwt_secret_file.write_text(secrets.token_urlsafe(48))
    log.info("generated a JWT secret in %s (set MKS_JWT_SECRET_KEY to use your own)", settings.jwt_secret_file)


def wait_for_database(engine: Engine, wait_seconds: float) -> None:
    """Return once the database accepts a connection; raise ConfigError after ``wait_seconds`` of refusals."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with engine.connect():
                return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                reason = " ".join(str(exc.orig).split())  # one line: driver messages span several
                database = engine.url.render_as_string(hide_password=True)
                raise ConfigError(
                    f"データベースに {wait_seconds:g} 秒間接続できませんでした（{database}: {reason}）。"
                    " データベースの稼働と MKS_DATABASE_URL を確認してください。"
                ) from None
            log.warning("database unreachable at start-up, retrying: %s", exc.orig)
        time.sleep(RETRY_INTERVAL_SECONDS)


@contextmanager
def startup_lock(engine: Engine, wait_seconds: float) -> Iterator[None]:
    """Hold the start-up lock of this database, so that concurrent starts migrate and seed one at a time."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, wait_seconds):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":  # a private database: nobody else can start on it
        yield
        return
    path = Path(database)
    with path.with_name(path.name + ".lock").open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
        yield


@contextmanager
def _advisory_lock(engine: Engine, wait_seconds: float) -> Iterator[None]:
    wait_ms = max(1, int(wait_seconds * 1000))
    # A transaction-level lock on a connection of its own: ending the transaction releases it, and
    # the SET LOCALs (a wait longer than a statement's usual bound) end with it.
    with engine.connect() as connection:
        connection.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
        connection.execute(text(f"SET LOCAL statement_timeout = {wait_ms}"))
        try:
            connection.execute(select(func.pg_advisory_xact_lock(STARTUP_LOCK_KEY)))
        except OperationalError:
            raise ConfigError(
                f"別のインスタンスの起動処理（マイグレーション）が {wait_seconds:g} 秒以内に終わりませんでした。"
                " しばらく待ってから再起動してください。"
            ) from None
        yield


def prepare(settings: Settings) -> None:
    """The start-up step: write the development JWT secret, wait for the database, then migrate, check and seed it.

    The database part runs under the start-up lock, on an engine of its own, disposed of at the end.
    """
    ensure_jwt_secret(settings)
    database = Database(settings)
    try:
        wait_for_database(database.engine, settings.startup_wait_seconds)
        with startup_lock(database.engine, settings.startup_wait_seconds):
            _migrate_and_check(settings, database.engine, database.search)
            _seed_and_refuse_unsafe(settings, database)
    finally:
        database.engine.dispose()  # the step's connections are not the workers' pool


def _migrate_and_check(settings: Settings, engine: Engine, search: SearchBackend) -> None:
    """Check the database can search Japanese, then bring it to the current schema."""
    # First: migrating a database that cannot hold Japanese text fails on its first Japanese row.
    with engine.connect() as connection:
        search.check(connection)
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    if current is None or (current != head and settings.env is not Environment.PRODUCTION):
        log.info("migrating database from %s to %s", current, head)
        migrate.upgrade(engine)
    elif current != head:
        raise ConfigError(f"データベースのスキーマが古い版 ({current}) です。`mks db upgrade` を実行してください。")


def _seed_and_refuse_unsafe(settings: Settings, database: Database) -> None:
    """Seed demo data on an empty database when configured; in production, refuse unsafe settings and demo passwords."""
    install_sync(database.session.session_factory, database.search)
    with database.session() as session:
        ctx = Context(session, settings, Dependencies.from_settings(settings), database.search)
        if settings.seed_demo_data and session.scalar(select(User.id).limit(1)) is None:
            seed_demo(ctx)
        if settings.env is Environment.PRODUCTION:
            settings.check_production()
            refuse_demo_passwords(ctx)


def refuse_demo_passwords(ctx: Context) -> None:
    """Raise ConfigError when any demo account still accepts its published password."""
    session = ctx.session
    still_valid = [
        demo["username"]
        for demo in DEMO_USERS
        if (user := session.scalar(select(User).where(User.username == demo["username"]))) is not None
        and user.is_active
        and ctx.dependencies.passwords.verify(user.password_hash, demo["password"])
    ]
    if still_valid:
        names = ", ".join(still_valid)
        raise ConfigError(
            f"デモ用パスワードが有効なままのユーザーがいます: {names}。"
            f" `mks set-password <ユーザー名>` で変更するか `mks disable-user <ユーザー名>` で無効化してください。"
        )
