"""Keeping the search index in step with the knowledge table, inside the transaction of each write."""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from ..models import Knowledge
from .backend import SearchBackend
from .base import FIELD_NAMES, IndexedDocument


def _search_fields_changed(entry: Knowledge) -> bool:
    state = inspect(entry)
    return any(state.attrs[name].history.has_changes() for name in FIELD_NAMES)


def install_sync(factory: sessionmaker[Session], backend: SearchBackend) -> None:
    """Re-index knowledge written in a flush, in the same transaction as the write."""

    @event.listens_for(factory, "before_flush")
    def unindex_deleted(session: Session, _context: object, _instances: object) -> None:
        # Before the entry's row goes: its delete cascades to the index's text table, from which
        # SQLite's contentless FTS5 table learns the tokens to take out (sqlite.py).
        deleted = [entry.id for entry in session.deleted if isinstance(entry, Knowledge)]
        if deleted:
            backend.remove(session.connection(), deleted)

    @event.listens_for(factory, "after_flush")
    def index_written(session: Session, _context: object) -> None:
        written = [entry for entry in session.new if isinstance(entry, Knowledge)] + [
            entry for entry in session.dirty if isinstance(entry, Knowledge) and _search_fields_changed(entry)
        ]
        if written:
            backend.index(session.connection(), [IndexedDocument.of(entry.id, entry) for entry in written])
