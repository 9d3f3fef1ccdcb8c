"""The start-up step, run once before serving: migrations, sanity checks, demo data.

gunicorn runs it in the master (gunicorn.conf.py ``on_starting``) before any worker forks; workers
never touch the database while they boot, so a worker restarted during a database outage comes up
and answers 503 until the database is back. Two instances starting at once take turns through a
lock (a PostgreSQL advisory lock, or a file lock beside a SQLite database).
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import OperationalError

from . import migrate
from .config import ConfigError, Environment, Settings
from .context import service_context
from .db import current_db, get_session
from .demo import DEMO_USERS, seed_demo
from .models import User
from .security import verify_password

log = logging.getLogger(__name__)

# Key of the PostgreSQL advisory lock held while one process migrates, checks and seeds.
STARTUP_LOCK_KEY = 0x4D4B53  # "MKS"
RETRY_INTERVAL_SECONDS = 1.0


def wait_for_database(engine: Engine, wait_seconds: float) -> None:
    """Return once the database accepts a connection; raise ConfigError after ``wait_seconds`` of refusals."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with engine.connect():
                return
        except OperationalError as exc:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"データベースに {wait_seconds:g} 秒間接続できませんでした（{exc.orig}）。"
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


def prepare_database(settings: Settings) -> None:
    """Wait for the database, then under the start-up lock migrate it, check it and seed demo data."""
    engine = current_db().engine
    wait_for_database(engine, settings.startup_wait_seconds)
    with startup_lock(engine, settings.startup_wait_seconds):
        _prepare(settings)


def _prepare(settings: Settings) -> None:
    """Bring the database to the current schema, check it can search Japanese, refuse unsafe data."""
    database = current_db()
    current = migrate.current_revision(database.engine)
    head = migrate.head_revision()
    if current is None or (current != head and settings.env is not Environment.PRODUCTION):
        log.info("migrating database from %s to %s", current, head)
        migrate.upgrade(database.engine)
    elif current != head:
        raise ConfigError(f"データベースのスキーマが古い版 ({current}) です。`mks db upgrade` を実行してください。")
    with database.engine.connect() as connection:
        database.search.check(connection)
    if settings.seed_demo_data and get_session().scalar(select(User.id).limit(1)) is None:
        seed_demo(service_context())
    if settings.env is Environment.PRODUCTION:
        settings.check_production()
        refuse_demo_passwords()


def refuse_demo_passwords() -> None:
    """Raise ConfigError when any demo account still accepts its published password."""
    session = get_session()
    still_valid = [
        demo["username"]
        for demo in DEMO_USERS
        if (user := session.scalar(select(User).where(User.username == demo["username"]))) is not None
        and user.is_active
        and verify_password(user.password_hash, demo["password"])
    ]
    if still_valid:
        names = ", ".join(still_valid)
        raise ConfigError(
            f"デモ用パスワードが有効なままのユーザーがいます: {names}。"
            f" `mks set-password <ユーザー名>` で変更するか `mks disable-user <ユーザー名>` で無効化してください。"
        )
