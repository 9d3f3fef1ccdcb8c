"""Statements both databases support but spell in their own dialect module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS: dict[str, Callable[[Any], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_unless_present(session: Session, entity: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into the entity's table that adds nothing where a row with the same key exists
    (ON CONFLICT DO NOTHING): racing inserts of one key never fail on it."""
    return _INSERTS[session.get_bind().dialect.name](entity).on_conflict_do_nothing()
