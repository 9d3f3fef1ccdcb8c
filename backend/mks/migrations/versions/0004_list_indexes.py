"""Lists newest first within a category or a status read 20 index entries, not the whole category.

A list filtered by category, or a viewer's list (approved entries only), sorted by update time
used the single-column index of the filter and then sorted every matching entry (the whole
category, or 80 % of the table for a viewer). With (filter, updated_at, id) indexes, the list's
own order, the database walks the filter's entries newest first and stops at the page. They replace the single-column
indexes, whose lookups their leading column serves.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_knowledge_category_updated", "knowledge", ["category_id", "updated_at", "id"])
    op.create_index("ix_knowledge_status_updated", "knowledge", ["status", "updated_at", "id"])
    op.drop_index("ix_knowledge_category_id", table_name="knowledge")
    op.drop_index("ix_knowledge_status", table_name="knowledge")


def downgrade() -> None:
    op.create_index("ix_knowledge_status", "knowledge", ["status"])
    op.create_index("ix_knowledge_category_id", "knowledge", ["category_id"])
    op.drop_index("ix_knowledge_status_updated", table_name="knowledge")
    op.drop_index("ix_knowledge_category_updated", table_name="knowledge")
