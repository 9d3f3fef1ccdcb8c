"""The head tier's impact lists: each 1- and 2-character piece of an entry's title and tags, with its impact.

See mks/search/impacts.py. Filled here from every entry, on both databases. The primary key reads
a piece's entries in order of impact; the second finds an entry's rows, to replace them
or to read a piece's impact in one entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from mks.search import impacts
from mks.search.base import IndexedText
from mks.search.rebuild import BATCH, documents, in_batches

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_head_impacts",
        sa.Column("token", sa.Text, primary_key=True),
        sa.Column("impact", sa.Float(precision=53), primary_key=True),
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_knowledge_head_impacts_knowledge", "knowledge_head_impacts", ["knowledge_id", "token", "impact"]
    )
    connection = op.get_bind()
    for batch in in_batches(documents(connection), BATCH):
        impacts.insert(connection, [IndexedText(found.knowledge_id, found.normalized(), []) for found in batch])


def downgrade() -> None:
    op.drop_table("knowledge_head_impacts")
