"""Statements both databases support but spell in their own dialect module."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_INSERTS: dict[str, Callable[[Any], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_unless_present(session: Session, entity: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into the entity's table that adds nothing where a row with the same key exists
    (ON CONFLICT DO NOTHING): racing inserts of one key never fail on it."""
    return _INSERTS[session.get_bind().dialect.name](entity).on_conflict_do_nothing()


# A bulk load's page cache on SQLite (the default is 2 MiB): inserts into large B-trees then find their pages
# in memory instead of spilling and reading them again. SQLite allocates it only as pages are used.
BULK_CACHE_KIB = 1024 * 1024


@contextmanager
def bulk_load(session: Session) -> Iterator[None]:
    """Tune the session's connection for writing many rows in one transaction, until the block ends.

    On SQLite, a larger page cache (100,000 entries import in about two thirds of the time); the
    setting is restored on the same connection, which may outlive the block in the pool.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    with _sqlite_pragma(connection, "cache_size", -BULK_CACHE_KIB):
        yield


@contextmanager
def _sqlite_pragma(connection: Connection, name: str, value: int) -> Iterator[Any]:
    """A SQLite setting of the connection changed until the block ends, then put back; yields the driver's
    connection. The connection may outlive the block in the pool."""
    driver = connection.connection.driver_connection
    assert driver is not None
    (before,) = driver.execute(f"PRAGMA {name}").fetchone()
    driver.execute(f"PRAGMA {name}={value}")
    try:
        yield driver
    finally:
        driver.execute(f"PRAGMA {name}={before}")


def can_write(connection: Connection, within_seconds: float) -> bool:
    """Whether a write could start now: the lock a write takes is granted within the time, then released.

    SQLite: the database's write lock (BEGIN IMMEDIATE), which one writer holds at a time. PostgreSQL:
    the knowledge table's lock every INSERT, UPDATE and DELETE takes (ROW EXCLUSIVE), which only a
    table lock (LOCK TABLE, a migration) refuses; other writers' row locks do not. Nothing is written.
    """
    wait_ms = max(1, int(within_seconds * 1000))
    try:
        if connection.dialect.name == "sqlite":
            with _sqlite_pragma(connection, "busy_timeout", wait_ms) as driver:
                driver.execute("BEGIN IMMEDIATE")
                driver.execute("ROLLBACK")
        else:
            probe = connection.begin()
            try:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
                connection.exec_driver_sql("LOCK TABLE knowledge IN ROW EXCLUSIVE MODE")
            finally:
                probe.rollback()
    except (DBAPIError, sqlite3.Error):
        return False
    return True
