"""PostgreSQL search over character-bigram tsvectors, ranked by BM25F (issue 15).

The pg_trgm index and the 1-2 character gram array give way to two GIN-indexed tsvectors of the
tokens of mks/search/text.py (see mks/search/postgresql.py), rebuilt here from every entry: the
new normalization also folds katakana to hiragana. The GIN indexes are built once the rows are
in, as for any bulk load. The pg_trgm extension stays installed: nothing uses it any more, and
dropping it may need rights the application's role lacks. SQLite: nothing to do (revision 0006).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from mks.search.base import IndexedText
from mks.search.postgresql import PostgresSearch
from mks.search.rebuild import BATCH, documents, in_batches

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_table("knowledge_search")
    op.execute(
        "CREATE TABLE knowledge_search ("
        "knowledge_id INTEGER PRIMARY KEY REFERENCES knowledge(id) ON DELETE CASCADE, "
        "title TEXT NOT NULL, tags TEXT NOT NULL, summary TEXT NOT NULL, content TEXT NOT NULL, "
        "head TSVECTOR NOT NULL, body TSVECTOR NOT NULL)"
    )
    connection = op.get_bind()
    backend = PostgresSearch()
    # The backend's own tables only: later revisions add and fill the rest (0009: head impacts).
    for batch in in_batches(documents(connection), BATCH):
        backend.insert_texts(connection, [IndexedText(found.knowledge_id, found.normalized(), []) for found in batch])
    op.execute("CREATE INDEX ix_knowledge_search_head ON knowledge_search USING gin (head)")
    op.execute("CREATE INDEX ix_knowledge_search_body ON knowledge_search USING gin (body)")
    op.execute("ANALYZE knowledge_search")


def _old_grams(normalized: str) -> list[str]:
    # Revision 0001's distinct unigrams and bigrams of the word-character runs.
    found: dict[str, None] = {}
    for run in re.findall(r"[^\W_]+", normalized):
        for index, char in enumerate(run):
            found[char] = None
            if index + 1 < len(run):
                found[run[index : index + 2]] = None
    return list(found)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_table("knowledge_search")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "knowledge_search",
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("grams", sa.ARRAY(sa.Text), nullable=False),
    )
    connection = op.get_bind()
    for document in documents(connection):
        # Revision 0001's normalization: NFKC and case folding only.
        row = {name: unicodedata.normalize("NFKC", value).casefold() for name, value in document.text.items()}
        connection.execute(
            text(
                "INSERT INTO knowledge_search (knowledge_id, title, summary, content, tags, grams) "
                "VALUES (:id, :title, :summary, :content, :tags, :grams)"
            ),
            {"id": document.knowledge_id, **row, "grams": _old_grams(" ".join(row.values()))},
        )
    op.execute(
        "CREATE INDEX ix_knowledge_search_trgm ON knowledge_search "
        "USING gin ((title || ' ' || summary || ' ' || tags || ' ' || content) gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_knowledge_search_grams ON knowledge_search USING gin (grams)")
