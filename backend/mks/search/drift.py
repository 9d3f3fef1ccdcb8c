"""Whether the search index holds exactly the knowledge entries: `mks doctor` reports the difference.

The index is kept in step inside each write's transaction (sync.py), so a difference means the
index was changed behind the app's back: a restore of a partial copy, rows deleted by hand, or
foreign keys off on SQLite. Both directions are anti-joins on the integer primary keys
(knowledge.id, the index table's knowledge_id). PostgreSQL answers them from the primary-key
indexes alone (0.06 s at 100,000 entries); SQLite keys the index table by its rowid, so finding
its orphans walks that table's pages once (0.2 s at 100,000 entries, pages cached).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from .backend import SearchBackend

# How many ids of each kind of difference are named, smallest first.
SAMPLE_SIZE = 5


@dataclass(frozen=True)
class IndexDrift:
    """How the index differs from the knowledge table."""

    entries: int
    missing: int  # entries the index has no row for
    missing_sample: tuple[int, ...]
    orphaned: int  # index rows whose entry no longer exists
    orphaned_sample: tuple[int, ...]

    @property
    def indexed(self) -> int:
        """The index's rows: the entries it holds plus the orphaned rows (no count of the index table)."""
        return self.entries - self.missing + self.orphaned

    @property
    def in_step(self) -> bool:
        return self.missing == 0 and self.orphaned == 0


def _unmatched(connection: Connection, table: str, key: str, other: str, other_key: str) -> tuple[int, tuple[int, ...]]:
    """How many keys of ``table`` no row of ``other`` holds, and the smallest of them."""
    # count(*) OVER () is taken before LIMIT: one anti-join gives both the number and the sample.
    rows = connection.execute(
        text(
            f"SELECT t.{key} AS id, count(*) OVER () AS total FROM {table} AS t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {other} AS o WHERE o.{other_key} = t.{key}) "
            f"ORDER BY t.{key} LIMIT :sample"
        ),
        {"sample": SAMPLE_SIZE},
    ).all()
    return (rows[0].total if rows else 0), tuple(row.id for row in rows)


def index_drift(connection: Connection, backend: SearchBackend) -> IndexDrift:
    """The difference between the backend's index and the knowledge table, as the connection sees them."""
    table = backend.indexed_table
    entries: int = connection.execute(text("SELECT count(*) FROM knowledge")).scalar_one()
    missing, missing_sample = _unmatched(connection, "knowledge", "id", table, "knowledge_id")
    orphaned, orphaned_sample = _unmatched(connection, table, "knowledge_id", "knowledge", "id")
    return IndexDrift(entries, missing, missing_sample, orphaned, orphaned_sample)
