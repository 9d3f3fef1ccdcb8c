"""Indexed words: frequent words of the tags and the synonym list, held by the index as one token each.

See mks/search/words.py. The list starts empty: every search answers as before until
``mks search reindex`` learns the words and rebuilds the index with them. SQLite keeps beside
each entry's normalized text the words its FTS5 row was given, which a later change or deletion
must take out again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("search_words", sa.Column("word", sa.String(32), primary_key=True))
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("knowledge_search_text", sa.Column("words", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    """The tokens of the words stay in the index until it is rebuilt; no search asks for them."""
    if op.get_bind().dialect.name == "sqlite":
        op.drop_column("knowledge_search_text", "words")
    op.drop_table("search_words")
