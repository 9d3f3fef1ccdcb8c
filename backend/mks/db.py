"""The database extension: one engine per process and a session per request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

from .config import Settings
from .search import SearchBackend, backend_for


class Base(DeclarativeBase):
    """Declarative base of every model."""


# SQLite's default ceiling for memory-mapped I/O (SQLITE_MAX_MMAP_SIZE).
MMAP_BYTES = 0x7FFF0000


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers proceed while one writer commits; busy_timeout queues writers across workers.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Read through the OS page cache in place: with SQLite's own 2 MB cache a search copied
        # every page it read from the kernel, a third of its time at 100,000 entries.
        cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
        cursor.close()

    return configure


def build_engine(settings: Settings) -> Engine:
    """Create the engine for the configured database (SQLite file by default, PostgreSQL by URL).

    Every wait on the database is bounded: for a pooled connection (pool timeout), for a lock and a
    statement (lock and statement timeouts), and on PostgreSQL for connecting and for a server that
    stops answering mid-use (TCP keepalives, tcp_user_timeout). Past a bound the request answers 503.
    """
    url = settings.effective_database_url
    lock_timeout_ms = int(settings.database_lock_timeout_seconds * 1000)
    # A fixed pool without overflow: gunicorn runs more threads than connections, so some thread is
    # always free for /health while the others wait (at most the pool timeout) for a connection.
    pool = {
        "pool_size": settings.database_pool_size,
        "max_overflow": 0,
        "pool_timeout": settings.database_pool_timeout_seconds,
    }
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": settings.database_lock_timeout_seconds}, **pool)
        event.listen(engine, "connect", _sqlite_pragmas(lock_timeout_ms))
        return engine
    statement_timeout_ms = int(settings.database_statement_timeout_seconds * 1000)
    # psycopg prepares a statement run five times, and PostgreSQL may then plan it once for any
    # value. A search's plan depends on the term (a rare one through the GIN index, a common one
    # walking the primary key): the generic plan walked 100,000 rows for a rare term (2 s, not 2 ms).
    options = f"-c lock_timeout={lock_timeout_ms} -c statement_timeout={statement_timeout_ms}"
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": settings.database_connect_timeout,
            "options": f"{options} -c plan_cache_mode=force_custom_plan",
            "keepalives": 1,
            "keepalives_idle": settings.database_keepalives_idle_seconds,
            "keepalives_interval": settings.database_keepalives_interval_seconds,
            "keepalives_count": settings.database_keepalives_count,
            "tcp_user_timeout": int(settings.database_tcp_user_timeout_seconds * 1000),
        },
        **pool,
    )


class Database:
    """An app's engine, its request-scoped session and the search backend of its dialect."""

    def __init__(self, settings: Settings) -> None:
        self.engine = build_engine(settings)
        self.session: scoped_session[Session] = scoped_session(sessionmaker(bind=self.engine, expire_on_commit=False))
        self.search: SearchBackend = backend_for(self.dialect)

    @property
    def dialect(self) -> str:
        """Name of the database dialect in use (``sqlite`` or ``postgresql``)."""
        return self.engine.dialect.name

    def init_app(self, app: Flask) -> None:
        """Register on the app and remove the session at the end of every app context."""
        app.extensions["mks_db"] = self

        @app.teardown_appcontext
        def remove_session(_exc: BaseException | None) -> None:
            self.session.remove()


def current_db() -> Database:
    """The database of the current app."""
    database: Database = current_app.extensions["mks_db"]
    return database


def get_session() -> Session:
    """The current request's session."""
    return current_db().session()
