"""Whether the search index holds exactly the knowledge entries: `mks doctor` reports the difference.

The index is kept in step inside each write's transaction (sync.py), so a difference means the
index was changed behind the app's back: a restore of a partial copy, rows deleted by hand, or
foreign keys off on SQLite. The index is the backend's table (one row per entry) and the head
tier's impact lists (impacts.py, rows per piece of the title and tags); an entry is missing when
either lacks it, orphaned when either (or another table of the backend's, such as SQLite's FTS5
table) outlives it. Where the backend's table keeps a copy of some of the entry's columns
(PostgreSQL: category and status, for the facets), an entry is stale when its copy differs; where
it keeps the total length of each field (PostgreSQL, for BM25F), the totals are off when they
differ from the sums over its rows.

Each comparison is an anti-join on integer keys that an index answers: the backend's table
against knowledge.id both ways; the entries of the impact lists are read one id at a time from
the by-entry index (a loose index scan: 100,000 probes, not 7 million rows, at 100,000 entries).
The copied columns are compared in one join of the backend's table with knowledge, the totals
with one pass over the backend's table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from .backend import SearchBackend
from .base import FIELD_NAMES
from .impacts import impacts
from .rebuild import tag_names
from .text import normalize

# How many ids of each kind of difference are named, smallest first.
SAMPLE_SIZE = 5
# Entries whose tags are read in one query, when their impacts are checked.
TAGS_BATCH = 500


@dataclass(frozen=True)
class IndexDrift:
    """How the index differs from the knowledge table."""

    entries: int
    missing: int  # entries the index lacks
    missing_sample: tuple[int, ...]
    orphaned: int  # entries deleted whose rows the index still holds
    orphaned_sample: tuple[int, ...]
    stale: int = 0  # entries whose copied columns (SearchBackend.copied_columns) differ in the index
    stale_sample: tuple[int, ...] = ()
    lengths_off: bool = False  # whether the kept totals of the fields' lengths (SearchBackend.kept_lengths) differ

    @classmethod
    def of(
        cls, entries: int, missing: set[int], orphaned: set[int], stale: set[int], *, lengths_off: bool
    ) -> IndexDrift:
        return cls(
            entries,
            len(missing),
            _sample(missing),
            len(orphaned),
            _sample(orphaned),
            len(stale),
            _sample(stale),
            lengths_off,
        )

    @property
    def in_step(self) -> bool:
        return self.missing == 0 and self.orphaned == 0 and self.stale == 0 and not self.lengths_off


def _sample(ids: set[int]) -> tuple[int, ...]:
    return tuple(sorted(ids)[:SAMPLE_SIZE])


def _unmatched(connection: Connection, table: str, key: str, other: str, other_key: str) -> set[int]:
    """The keys of ``table`` that no row of ``other`` holds."""
    absent = f"NOT EXISTS (SELECT 1 FROM {other} AS o WHERE o.{other_key} = t.{key})"
    return set(connection.scalars(text(f"SELECT t.{key} FROM {table} AS t WHERE {absent}")))


def _orphaned_impacts(connection: Connection) -> set[int]:
    """The entries of the impact lists that no longer exist."""
    following = "SELECT min(knowledge_id) FROM knowledge_head_impacts WHERE knowledge_id > listed.id"
    return set(
        connection.scalars(
            text(
                "WITH RECURSIVE listed(id) AS (SELECT min(knowledge_id) FROM knowledge_head_impacts "
                f"UNION ALL SELECT ({following}) FROM listed WHERE listed.id IS NOT NULL) "
                "SELECT id FROM listed WHERE id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM knowledge WHERE knowledge.id = listed.id)"
            )
        )
    )


def _missing_impacts(connection: Connection) -> set[int]:
    """The entries without impact rows whose title or tags hold a piece (one without letters or digits has none)."""
    unlisted = connection.execute(
        text(
            "SELECT id, title FROM knowledge WHERE NOT EXISTS "
            "(SELECT 1 FROM knowledge_head_impacts h WHERE h.knowledge_id = knowledge.id) ORDER BY id"
        )
    ).all()
    missing: set[int] = set()
    for start in range(0, len(unlisted), TAGS_BATCH):
        batch = unlisted[start : start + TAGS_BATCH]
        tags = tag_names(connection, [row.id for row in batch])
        missing.update(
            row.id for row in batch if impacts({"title": normalize(row.title), "tags": normalize(tags[row.id])})
        )
    return missing


def _stale(connection: Connection, backend: SearchBackend) -> set[int]:
    """The entries whose index row holds other values of the columns it copies from the entry."""
    if not backend.copied_columns:
        return set()
    differs = " OR ".join(f"s.{column} IS DISTINCT FROM k.{column}" for column in backend.copied_columns)
    return set(
        connection.scalars(
            text(
                f"SELECT s.knowledge_id FROM {backend.indexed_table} AS s "
                f"JOIN knowledge AS k ON k.id = s.knowledge_id WHERE {differs}"
            )
        )
    )


def _lengths_off(connection: Connection, backend: SearchBackend) -> bool:
    """Whether the kept totals (entries, then each field's length in octets) differ from the sums over the rows."""
    if backend.kept_lengths is None:
        return False
    kept = ", ".join(f"coalesce(sum({name}), 0)" for name in ("entries", *FIELD_NAMES))
    summed = ", ".join(["count(*)", *(f"coalesce(sum(octet_length({name})), 0)" for name in FIELD_NAMES)])
    totals = connection.execute(text(f"SELECT {kept} FROM {backend.kept_lengths}")).one()
    rows = connection.execute(text(f"SELECT {summed} FROM {backend.indexed_table}")).one()
    return [int(total) for total in totals] != [int(total) for total in rows]


def index_drift(connection: Connection, backend: SearchBackend) -> IndexDrift:
    """The difference between the search index and the knowledge table, as the connection sees them."""
    table = backend.indexed_table
    entries: int = connection.execute(text("SELECT count(*) FROM knowledge")).scalar_one()
    missing = _unmatched(connection, "knowledge", "id", table, "knowledge_id") | _missing_impacts(connection)
    orphaned = _unmatched(connection, table, "knowledge_id", "knowledge", "id") | _orphaned_impacts(connection)
    for other, key in backend.also_indexed:
        orphaned |= _unmatched(connection, other, key, "knowledge", "id")
    stale = _stale(connection, backend)
    return IndexDrift.of(entries, missing, orphaned, stale, lengths_off=_lengths_off(connection, backend))
