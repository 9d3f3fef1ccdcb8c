"""Attachments: photos and PDFs of an entry, their bytes content-addressed in the blob store.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("blob", sa.String(64), nullable=False),
        sa.Column("thumbnail_blob", sa.String(64), nullable=True),
        sa.Column("thumbnail_size", sa.Integer, nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("uploaded_by_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_attachments_knowledge_id", "attachments", ["knowledge_id"])
    # A blob is deleted once no attachment refers to it: these find the references.
    op.create_index("ix_attachments_blob", "attachments", ["blob"])
    op.create_index("ix_attachments_thumbnail_blob", "attachments", ["thumbnail_blob"])


def downgrade() -> None:
    op.drop_table("attachments")
