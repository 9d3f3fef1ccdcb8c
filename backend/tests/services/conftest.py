"""Fixtures of service tests: the real database opened as a script would, and a Context on it, no Flask."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import has_app_context, has_request_context
from sqlalchemy.orm import Session, sessionmaker

from mks.config import Settings
from mks.db import Database
from mks.search.sync import install_sync
from mks.services.context import Context, Dependencies


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    """The real database, as a script or worker outside Flask would open it (no app is built)."""
    opened = Database(settings)
    install_sync(opened.session.session_factory, opened.search)
    yield opened
    opened.engine.dispose()


@pytest.fixture
def sessions(database: Database) -> sessionmaker[Session]:
    """Sessions of the real database."""
    return database.session.session_factory


@pytest.fixture
def ctx(settings: Settings, database: Database, sessions: sessionmaker[Session]) -> Iterator[Context]:
    assert not has_app_context() and not has_request_context()
    with sessions() as session:
        yield Context(
            session, settings, Dependencies.from_settings(settings), database.search, client_address="192.0.2.7"
        )
