"""Schema migrations: Alembic driven from Python, so `mks db upgrade` and first start share one path."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _unbounded(connection: Connection) -> Connection:
    """The migration's connection without the bound of a request's statement (MKS_DATABASE_STATEMENT_TIMEOUT_SECONDS).

    A migration rewrites or indexes every entry: building a GIN index of 100,000 entries takes
    about 30 s, a rebuild of the search index minutes. Waits for locks keep their bound.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))
    return connection


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to the revision, in one transaction where the database allows it."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = _unbounded(connection)
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Revert migrations down to the revision."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = _unbounded(connection)
        command.downgrade(config, revision)
