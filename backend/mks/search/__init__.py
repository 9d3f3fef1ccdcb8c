"""Full-text search over knowledge, answered by the database's own indexes.

One backend per dialect (SQLite FTS5, PostgreSQL tsvector GIN) over the tokens of text.py. The index
is kept in step with the knowledge table by session events, inside the same transaction as the
change (see sync.py).
"""

from __future__ import annotations

from .backend import SearchBackend
from .base import FIELDS, Facets, IndexedDocument, RankedPage, SearchFilters, SearchHit, SearchRequest
from .postgresql import PostgresSearch
from .sqlite import SqliteSearch

__all__ = [
    "FIELDS",
    "Facets",
    "IndexedDocument",
    "RankedPage",
    "SearchBackend",
    "SearchFilters",
    "SearchHit",
    "SearchRequest",
    "backend_for",
]

BACKENDS: dict[str, type[SearchBackend]] = {"sqlite": SqliteSearch, "postgresql": PostgresSearch}


def backend_for(dialect: str) -> SearchBackend:
    """The search backend for a database dialect; the app asks once, when it sets up its database."""
    return BACKENDS[dialect]()
