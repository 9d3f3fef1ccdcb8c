"""The database extension: one engine per process and a session per request."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker

from .config import Settings


class Base(DeclarativeBase):
    """Declarative base of every model."""


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one writer commits; busy_timeout queues writers across workers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def build_engine(settings: Settings) -> Engine:
    """Create the engine for the configured database (SQLite file by default, PostgreSQL by URL)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": settings.database_connect_timeout})
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": settings.database_connect_timeout},
    )


class Database:
    """An app's engine and its request-scoped session."""

    def __init__(self, settings: Settings) -> None:
        self.engine = build_engine(settings)
        self.session: scoped_session[Session] = scoped_session(
            sessionmaker(bind=self.engine, expire_on_commit=False)
        )

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
