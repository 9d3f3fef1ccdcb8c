"""Initial schema: users, categories, tags, knowledge, revisions, revoked tokens, search indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DEFAULT_CATEGORIES = ("施工計画", "品質", "安全", "原価", "出来形")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("last_seen_at", Timestamp, index=True),
    )
    categories = op.create_table(
        "categories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
        sa.Column("created_at", Timestamp, nullable=False),
    )
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False, unique=True),
    )
    op.create_table(
        "knowledge",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("category_id", sa.Integer, sa.ForeignKey("categories.id"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("project_code", sa.String(50), index=True),
        sa.Column("owner_department", sa.String(100), index=True),
        sa.Column("created_by_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("updated_by_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False, index=True),
        sa.Column("view_count", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "knowledge_tags",
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tag_id", sa.Integer, sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
    )
    op.create_table(
        "knowledge_revisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("changed_by_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("changed_at", Timestamp, nullable=False),
        sa.Column("changed_fields", sa.JSON, nullable=False),
        sa.Column("snapshot", sa.JSON, nullable=False),
        sa.UniqueConstraint("knowledge_id", "revision"),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("expires_at", Timestamp, nullable=False, index=True),
        sa.Column("revoked_at", Timestamp, nullable=False),
    )
    now = datetime.now(UTC)
    op.bulk_insert(categories, [{"name": name, "created_at": now} for name in DEFAULT_CATEGORIES])
    if op.get_bind().dialect.name == "postgresql":
        _create_postgres_search()
    else:
        _create_sqlite_search()


def _create_sqlite_search() -> None:
    # See mks/search/sqlite.py for why there are two tables.
    op.execute("CREATE VIRTUAL TABLE knowledge_fts USING fts5(title, summary, content, tags, tokenize='trigram')")
    op.execute(
        "CREATE VIRTUAL TABLE knowledge_fts_grams USING fts5("
        "title, summary, content, tags, tokenize='unicode61', content='')"
    )


def _create_postgres_search() -> None:
    # See mks/search/postgresql.py: pg_trgm for 3+ characters, a gram array for 1-2.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "knowledge_search",
        sa.Column("knowledge_id", sa.Integer, sa.ForeignKey("knowledge.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("grams", sa.ARRAY(sa.Text), nullable=False),
    )
    op.execute(
        "CREATE INDEX ix_knowledge_search_trgm ON knowledge_search "
        "USING gin ((title || ' ' || summary || ' ' || tags || ' ' || content) gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_knowledge_search_grams ON knowledge_search USING gin (grams)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_table("knowledge_search")
    else:
        op.execute("DROP TABLE knowledge_fts_grams")
        op.execute("DROP TABLE knowledge_fts")
    for table in (
        "revoked_tokens",
        "knowledge_revisions",
        "knowledge_tags",
        "knowledge",
        "tags",
        "categories",
        "users",
    ):
        op.drop_table(table)
