"""Token generations: a password change or disabling a user ends every token issued before.

Existing users start at generation 0, the generation of every token issued before this
migration (they carry none), so upgrading logs nobody out. Revoked token families share the
revoked_tokens table with token ids (both are UUIDs), so that table is unchanged.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    # Not batch mode: recreating users on SQLite would fire the ON DELETE actions of the tables
    # referring to it; SQLite 3.35+ drops a column in place.
    op.drop_column("users", "token_generation")
