"""Reading every entry's searchable text from the database, to build a search index from scratch."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import Connection, text

from .backend import SearchBackend
from .base import IndexedDocument

BATCH = 1_000


def documents(connection: Connection, batch: int = BATCH) -> Iterator[IndexedDocument]:
    """The document of every knowledge entry, in id order, read ``batch`` entries at a time."""
    after = 0
    while True:
        rows = connection.execute(
            text("SELECT id, title, summary, content FROM knowledge WHERE id > :after ORDER BY id LIMIT :batch"),
            {"after": after, "batch": batch},
        ).all()
        if not rows:
            return
        tags: dict[int, list[str]] = {row.id: [] for row in rows}
        for link in connection.execute(
            text(
                "SELECT knowledge_tags.knowledge_id, tags.name FROM knowledge_tags "
                "JOIN tags ON tags.id = knowledge_tags.tag_id "
                "WHERE knowledge_tags.knowledge_id > :after AND knowledge_tags.knowledge_id <= :last"
            ),
            {"after": after, "last": rows[-1].id},
        ):
            # A link outlives its entry where the entry was deleted with foreign keys off: it tags nothing.
            if link.knowledge_id in tags:
                tags[link.knowledge_id].append(link.name)
        for row in rows:
            # Tag names in code-point order, as Knowledge.tag_names gives them when an entry is written.
            fields = {"title": row.title, "tags": " ".join(sorted(tags[row.id])), "summary": row.summary}
            yield IndexedDocument(row.id, {**fields, "content": row.content})
        after = rows[-1].id


def reindex(connection: Connection, backend: SearchBackend, progress: Callable[[int, int], None]) -> int:
    """Rebuild the index from every entry, in the connection's transaction; the number of entries indexed.

    ``progress(done, total)`` is called after each batch.
    """
    total: int = connection.execute(text("SELECT count(*) FROM knowledge")).scalar_one()
    backend.clear(connection)
    done = 0
    progress(done, total)
    for document in documents(connection):
        backend.index(connection, document)
        done += 1
        if done % BATCH == 0 or done == total:
            progress(done, total)
    return done
