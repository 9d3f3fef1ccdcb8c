"""The review workflow: an approved entry's pending change, and the comment of each workflow step.

Existing rows need no change: a row saved as approved holds text saved as approved, and an entry
sent back under the old single-PUT workflow stays in draft or review, unseen by viewers as before.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge", sa.Column("pending_revision", sa.Integer, nullable=True))
    op.add_column("knowledge_revisions", sa.Column("comment", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("knowledge_revisions", "comment")
    op.drop_column("knowledge", "pending_revision")
