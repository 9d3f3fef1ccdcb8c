"""PostgreSQL: every character of an entry's fields a lexeme of its vectors, so a word of one character is one lexeme.

A word of one character was a prefix (``'杭':*``): GIN gathers the matches of every lexeme a prefix
starts (杭打, 杭の, 杭 …) into one bitmap before anything else, so the count of 杭 施工計画 read the
whole bitmap (22 ms at 100,000 entries) and gained nothing from the buckets of revision 0020. Each
character of the fields' word-character runs that is no token of its own now follows in both
vectors without positions (postgresql.characters): a lexeme without positions never satisfies a
phrase, so phrases are unchanged. The GIN indexes are built again once the rows are rewritten, as
for any bulk load. SQLite: nothing to do (FTS5 answers a prefix from its own index).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import op
from sqlalchemy import Connection, text

from mks.search.base import FIELD_NAMES, HEAD_FIELDS
from mks.search.postgresql import characters, unpositioned

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BATCH = 1_000
INDEXES = (
    "CREATE INDEX ix_knowledge_search_head ON knowledge_search USING gin (head)",
    "CREATE INDEX ix_knowledge_search_body ON knowledge_search USING gin (body, (knowledge_id / 8192))",
)


@contextmanager
def _gin_indexes_built_after() -> Iterator[None]:
    """The GIN indexes dropped while the rows inside are rewritten, then built once, as for any bulk load."""
    op.execute("DROP INDEX ix_knowledge_search_head")
    op.execute("DROP INDEX ix_knowledge_search_body")
    yield
    for statement in INDEXES:
        op.execute(statement)
    op.execute("ANALYZE knowledge_search")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with _gin_indexes_built_after():
        _add_characters(op.get_bind())


def _add_characters(connection: Connection) -> None:
    after = 0
    while True:
        rows = connection.execute(
            text(
                f"SELECT knowledge_id, {', '.join(FIELD_NAMES)} FROM knowledge_search "
                "WHERE knowledge_id > :after ORDER BY knowledge_id LIMIT :batch"
            ),
            {"after": after, "batch": BATCH},
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            normalized = {name: getattr(row, name) for name in FIELD_NAMES}
            updates.append(
                {
                    "id": row.knowledge_id,
                    "head": unpositioned(characters(normalized, HEAD_FIELDS)),
                    "body": unpositioned(characters(normalized, FIELD_NAMES)),
                }
            )
        # tsvector || merges a lexeme present in both: a character that is already a token keeps its positions.
        connection.execute(
            text(
                "UPDATE knowledge_search SET head = head || CAST(:head AS tsvector), "
                "body = body || CAST(:body AS tsvector) WHERE knowledge_id = :id"
            ),
            updates,
        )
        after = rows[-1].knowledge_id


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # The lexemes of one character without positions are exactly those this revision added: the
    # indexed words without positions are longer, and a character that is a token has positions.
    with _gin_indexes_built_after():
        for vector in ("head", "body"):
            op.execute(
                f"UPDATE knowledge_search SET {vector} = ts_delete({vector}, ARRAY("
                f"SELECT lexeme FROM unnest({vector}) WHERE positions IS NULL AND char_length(lexeme) = 1))"
            )
