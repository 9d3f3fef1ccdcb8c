"""Search over character bigrams, ranked by BM25 over every match (issue 15).

SQLite: the trigram table and the 1-2 character gram table give way to one contentless FTS5
table of bigram tokens (see mks/search/sqlite.py) and the normalized text it was built from,
filled from the entries here. Normalization now also folds katakana to hiragana, so every entry
is re-indexed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import unicodedata

from alembic import op
from sqlalchemy import text

from mks.search.base import FIELD_COLUMNS, FIELD_PARAMS
from mks.search.rebuild import documents
from mks.search.sqlite import tokens_row

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("title", "tags", "summary", "content")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE knowledge_search_text ("
        "knowledge_id INTEGER PRIMARY KEY REFERENCES knowledge(id) ON DELETE CASCADE, "
        "title TEXT NOT NULL, tags TEXT NOT NULL, summary TEXT NOT NULL, content TEXT NOT NULL)"
    )
    op.execute(
        "CREATE VIRTUAL TABLE knowledge_tokens USING fts5("
        "title, tags, summary, content, content='', tokenize='ascii', prefix='1')"
    )
    # The columns a search reads of every match, without reading the entry's row (see sqlite.py).
    op.execute("CREATE INDEX ix_knowledge_search_filter ON knowledge (id, status, category_id, updated_at)")
    connection = op.get_bind()
    # The backend's own tables only, as this revision made them: later revisions add and fill the
    # rest (0009: head impacts, 0012: indexed words).
    for document in documents(connection):
        normalized = document.normalized()
        values = {"id": document.knowledge_id, **normalized}
        connection.execute(
            text(f"INSERT INTO knowledge_search_text(knowledge_id, {FIELD_COLUMNS}) VALUES (:id, {FIELD_PARAMS})"),
            values,
        )
        connection.execute(
            text(f"INSERT INTO knowledge_tokens(rowid, {FIELD_COLUMNS}) VALUES (:id, {FIELD_PARAMS})"),
            {"id": document.knowledge_id, **tokens_row(normalized)},
        )
    op.execute("DROP TABLE knowledge_fts_grams")
    op.execute("DROP TABLE knowledge_fts")


def _old_grams(normalized: str) -> str:
    # The 1-2 character grams of revision 0001's index, space-separated.
    found: dict[str, None] = {}
    for word in normalized.split():
        run = "".join(char if char.isalnum() else " " for char in word)
        for part in run.split():
            for index, char in enumerate(part):
                found[char] = None
                if index + 1 < len(part):
                    found[part[index : index + 2]] = None
    return " ".join(found)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("CREATE VIRTUAL TABLE knowledge_fts USING fts5(title, summary, content, tags, tokenize='trigram')")
    op.execute(
        "CREATE VIRTUAL TABLE knowledge_fts_grams USING fts5("
        "title, summary, content, tags, tokenize='unicode61', content='')"
    )
    connection = op.get_bind()
    columns = ", ".join(COLUMNS)
    params = ", ".join(f":{name}" for name in COLUMNS)
    for document in documents(connection):
        # Revision 0001's normalization: NFKC and case folding only.
        row = {name: unicodedata.normalize("NFKC", value).casefold() for name, value in document.text.items()}
        values = {"id": document.knowledge_id, **row}
        connection.execute(text(f"INSERT INTO knowledge_fts(rowid, {columns}) VALUES (:id, {params})"), values)
        grams = {"id": document.knowledge_id, **{name: _old_grams(value) for name, value in row.items()}}
        connection.execute(text(f"INSERT INTO knowledge_fts_grams(rowid, {columns}) VALUES (:id, {params})"), grams)
    op.execute("DROP TABLE knowledge_tokens")
    op.execute("DROP TABLE knowledge_search_text")
    op.execute("DROP INDEX ix_knowledge_search_filter")
