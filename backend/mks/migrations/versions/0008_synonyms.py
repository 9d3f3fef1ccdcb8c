"""Synonym sets: words a search treats as one, edited by admins.

A word belongs to one set at most, by its normalized form (the unique column), so a query word
expands to exactly one set.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "synonym_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "synonym_words",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "set_id", sa.Integer, sa.ForeignKey("synonym_sets.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("word", sa.String(50), nullable=False),
        sa.Column("normalized", sa.String(50), nullable=False, unique=True),
    )


def downgrade() -> None:
    op.drop_table("synonym_words")
    op.drop_table("synonym_sets")
