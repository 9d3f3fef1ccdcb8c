"""Re-review dates: an optional date by which an entry is to be reviewed again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge", sa.Column("review_due", sa.Date, nullable=True))
    # The list filter review_due_before and the gauge mks_knowledge_review_due read a range of it.
    op.create_index("ix_knowledge_review_due", "knowledge", ["review_due"])


def downgrade() -> None:
    op.drop_index("ix_knowledge_review_due", table_name="knowledge")
    op.drop_column("knowledge", "review_due")
