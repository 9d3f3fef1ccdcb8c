"""PostgreSQL: the search page's facets from the matches' ids alone, as SQLite's (0006).

The covering index ix_knowledge_search_filter holds what a search reads of each match's entry (its
status, category and update time), as SQLite's does; a function returns the ids of the matches of a
tsquery found through a bitmap of the GIN index (postgresql.py, PostgresSearch.tally): the planner
settings that force the bitmap are the function's own, so the join outside may read the index alone.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_knowledge_search_filter ON knowledge (id) INCLUDE (status, category_id, updated_at)"
        )
        # Not inlined (its SET clauses), planned once per session with the query unknown: the settings
        # leave the bitmap as the only plan. A scan walking the table would read each match's body vector.
        op.execute(
            "CREATE FUNCTION mks_body_matches(query tsquery, bound integer) RETURNS SETOF integer "
            "LANGUAGE sql STABLE STRICT SET enable_seqscan = off SET enable_indexscan = off "
            "AS 'SELECT knowledge_id FROM knowledge_search WHERE body @@ query LIMIT bound'"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION mks_body_matches(tsquery, integer)")
        op.execute("DROP INDEX ix_knowledge_search_filter")
