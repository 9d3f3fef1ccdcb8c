"""Bulk import: an entry's id in the system it was imported from, and the import jobs of the API.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("knowledge", sa.Column("external_id", sa.String(200), nullable=True))
    # Unique where set: importing the same row twice finds the entry of the first import.
    op.create_index("ux_knowledge_external_id", "knowledge", ["external_id"], unique=True)
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        # 1 while the job runs, else NULL: the unique index lets one job run at a time.
        sa.Column("running", sa.Integer, nullable=True, unique=True),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("file_format", sa.String(8), nullable=False),
        sa.Column("skip_invalid", sa.Boolean, nullable=False),
        sa.Column("created_by_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=True),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
        sa.Column("already_imported", sa.Integer, nullable=False),
        sa.Column("invalid", sa.Integer, nullable=False),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("import_jobs")
    op.drop_index("ux_knowledge_external_id", table_name="knowledge")
    op.drop_column("knowledge", "external_id")
