"""SQLite: the full-text index rebuilt when it still answers for deleted entries.

Until now a deleted entry's row in knowledge_search_text went first (its foreign key cascades), so
the contentless FTS5 table, which must be told the tokens to take out, kept the entry's tokens. The
join with knowledge hid the entry from results and counts, not from bm25()'s document frequencies,
and counts without filters no longer join it. Those tokens are known nowhere else, so the table is
rebuilt from the normalized text of the remaining entries, only when it holds such an entry.
PostgreSQL's index rows went with their entries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op
from sqlalchemy import text

from mks.search.base import FIELD_COLUMNS, FIELD_NAMES, FIELD_PARAMS
from mks.search.sqlite import tokens_row

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BATCH = 1_000


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    deleted = bind.execute(
        text("SELECT 1 FROM knowledge_tokens t WHERE NOT EXISTS (SELECT 1 FROM knowledge k WHERE k.id = t.rowid)")
    ).first()
    if deleted is None:
        return
    bind.execute(text("INSERT INTO knowledge_tokens(knowledge_tokens) VALUES ('delete-all')"))
    insert = text(f"INSERT INTO knowledge_tokens(rowid, {FIELD_COLUMNS}) VALUES (:id, {FIELD_PARAMS})")
    rows = bind.execute(text(f"SELECT knowledge_id, {FIELD_COLUMNS} FROM knowledge_search_text ORDER BY knowledge_id"))
    while batch := rows.fetchmany(BATCH):
        bind.execute(
            insert,
            [{"id": row[0], **tokens_row(dict(zip(FIELD_NAMES, row[1:], strict=True)))} for row in batch],
        )


def downgrade() -> None:
    """Nothing to undo: the rebuilt table holds what the old one should have."""
