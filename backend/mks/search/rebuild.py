"""Reading every entry's searchable text from the database, to build a search index from scratch."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

from . import words
from .backend import SearchBackend
from .base import IndexedDocument

BATCH = 1_000


def documents(connection: Connection, batch: int = BATCH, every: int = 1) -> Iterator[IndexedDocument]:
    """The document of every knowledge entry (or of each whose id is a multiple of ``every``), in id order.

    Read ``batch`` entries at a time.
    """
    after = 0
    while True:
        rows = connection.execute(
            text(
                "SELECT id, title, summary, content FROM knowledge WHERE id > :after AND id % :every = 0 "
                "ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": batch, "every": every},
        ).all()
        if not rows:
            return
        tags = tag_names(connection, [row.id for row in rows])
        for row in rows:
            fields = {"title": row.title, "tags": tags[row.id], "summary": row.summary}
            yield IndexedDocument(row.id, {**fields, "content": row.content})
        after = rows[-1].id


def tag_names(connection: Connection, ids: list[int]) -> dict[int, str]:
    """The tags field of each entry of ``ids``: its tag names in code-point order, as Knowledge.tag_names gives them."""
    names: dict[int, list[str]] = {knowledge_id: [] for knowledge_id in ids}
    for link in connection.execute(
        text(
            "SELECT knowledge_tags.knowledge_id, tags.name FROM knowledge_tags "
            "JOIN tags ON tags.id = knowledge_tags.tag_id WHERE knowledge_tags.knowledge_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": ids},
    ):
        names[link.knowledge_id].append(link.name)
    return {knowledge_id: " ".join(sorted(found)) for knowledge_id, found in names.items()}


def in_batches(documents: Iterator[IndexedDocument], size: int) -> Iterator[list[IndexedDocument]]:
    """The documents, ``size`` at a time (the last batch may be smaller)."""
    while batch := list(itertools.islice(documents, size)):
        yield batch


@dataclass(frozen=True)
class Reindexed:
    entries: int
    words_learned: int  # indexed words added to the list (words.py)
    words: int  # indexed words in the list


def reindex(connection: Connection, backend: SearchBackend, progress: Callable[[int, int], None]) -> Reindexed:
    """Learn the indexed words, then rebuild the index from every entry with them, in the connection's transaction.

    ``progress(done, total)`` is called after each batch.
    """
    backend.lock_words(connection, exclusive=True)
    counted = connection.execute(text("SELECT count(*), coalesce(max(id), 0) FROM knowledge")).one()
    total, last = int(counted[0]), int(counted[1])
    backend.clear(connection)
    learned = words.learn(connection, documents(connection, every=max(1, last // words.SAMPLE)))
    indexed = backend.indexed_words.current(connection)
    done = 0
    progress(done, total)
    for batch in in_batches(documents(connection), BATCH):
        backend.index(connection, batch, indexed)
        done += len(batch)
        progress(done, total)
    return Reindexed(done, learned, len(indexed.words))
