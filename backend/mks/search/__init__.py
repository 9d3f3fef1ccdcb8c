"""Full-text search over knowledge, answered by the database's own indexes.

One backend per dialect (SQLite FTS5, PostgreSQL pg_trgm); both serve terms of 3+ characters
from a trigram index and 1-2 character terms from a unigram/bigram index, because a trigram
index cannot answer them. The index is kept in step with the knowledge table by session events,
inside the same transaction as the change.
"""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from ..models import Knowledge
from .base import IndexedDocument, SearchBackend, SearchFilters, SearchHit, SearchPage
from .postgresql import PostgresSearch
from .sqlite import SqliteSearch

__all__ = ["SearchBackend", "SearchFilters", "SearchHit", "SearchPage", "backend_for", "install_sync"]

SEARCHABLE_FIELDS = ("title", "summary", "content", "tags")
BACKENDS: dict[str, type[SearchBackend]] = {"sqlite": SqliteSearch, "postgresql": PostgresSearch}


def backend_for(dialect: str) -> SearchBackend:
    """The search backend for a database dialect."""
    return BACKENDS[dialect]()


def _document(entry: Knowledge) -> IndexedDocument:
    return IndexedDocument(
        knowledge_id=entry.id,
        title=entry.title,
        summary=entry.summary,
        content=entry.content,
        tags=" ".join(entry.tag_names),
    )


def _search_fields_changed(entry: Knowledge) -> bool:
    state = inspect(entry)
    return any(state.attrs[name].history.has_changes() for name in SEARCHABLE_FIELDS)


def install_sync(factory: sessionmaker[Session], backend: SearchBackend) -> None:
    """Re-index knowledge written in a flush, in the same transaction as the write."""

    @event.listens_for(factory, "after_flush")
    def sync_index(session: Session, _context: object) -> None:
        connection = session.connection()
        for entry in session.new:
            if isinstance(entry, Knowledge):
                backend.index(connection, _document(entry))
        for entry in session.dirty:
            if isinstance(entry, Knowledge) and _search_fields_changed(entry):
                backend.index(connection, _document(entry))
        for entry in session.deleted:
            if isinstance(entry, Knowledge):
                backend.remove(connection, entry.id)
