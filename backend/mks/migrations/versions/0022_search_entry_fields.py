"""PostgreSQL: each indexed entry's category and status beside its vectors, so the facets read them there.

The search page's facets tally the first exact_total + 1 matches by category and status. The ids
came from mks_body_matches, which already reads each match's row of knowledge_search, and each
category and status from a probe of the knowledge table's covering index: 10,001 probes, half of
the tally (杭 at 100,000 entries: 14.6 ms, 7 of them the probes). knowledge_search now holds both
columns, right after the id: PostgreSQL reads a row's columns in order, and behind the text and
vectors (appended by ALTER TABLE ADD COLUMN) they cost 4-5 ms more per 6,000 matches than the id
alone. mks_body_match_facets returns them for each match, as mks_body_matches returns the ids
(which stays as it was for counts: three columns instead of one cost a count of 杭 5.5 → 9 ms).

Triggers keep them equal to the entry's, whatever writes it: a row inserted without them (the
search backend's insert) takes the entry's, and a change of the entry's category or status is
copied to its row. The table is written again once, with the GIN indexes built after the rows, as
for any bulk load. SQLite: nothing to do.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

from alembic import context, op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

COLUMNS = "knowledge_id, category_id, status, title, tags, summary, content, head, body"
TABLE = (
    "CREATE TABLE knowledge_search ("
    "knowledge_id INTEGER PRIMARY KEY REFERENCES knowledge(id) ON DELETE CASCADE, "
    "category_id INTEGER NOT NULL, status VARCHAR(16) NOT NULL, "
    "title TEXT NOT NULL, tags TEXT NOT NULL, summary TEXT NOT NULL, content TEXT NOT NULL, "
    "head TSVECTOR NOT NULL, body TSVECTOR NOT NULL)"
)
INDEXES = (
    "CREATE INDEX ix_knowledge_search_head ON knowledge_search USING gin (head)",
    "CREATE INDEX ix_knowledge_search_body ON knowledge_search USING gin (body, (knowledge_id / 8192))",
)

# The row takes the entry's values unless it brings its own (a restore of a dump brings them).
FILL = """
CREATE FUNCTION mks_search_entry_fields() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.category_id IS NULL OR NEW.status IS NULL THEN
        SELECT k.category_id, k.status INTO NEW.category_id, NEW.status FROM knowledge k WHERE k.id = NEW.knowledge_id;
    END IF;
    RETURN NEW;
END
$$
"""

FOLLOW = """
CREATE FUNCTION mks_search_follows_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE knowledge_search SET category_id = NEW.category_id, status = NEW.status WHERE knowledge_id = NEW.id;
    RETURN NULL;
END
$$
"""

TRIGGERS = (
    "CREATE TRIGGER knowledge_search_entry_fields BEFORE INSERT ON knowledge_search "
    "FOR EACH ROW EXECUTE FUNCTION mks_search_entry_fields()",
    "CREATE TRIGGER knowledge_search_follows_entry AFTER UPDATE OF category_id, status ON knowledge FOR EACH ROW "
    "WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id OR OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION mks_search_follows_entry()",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX ix_knowledge_search_head")
    op.execute("DROP INDEX ix_knowledge_search_body")
    op.execute("ALTER TABLE knowledge_search RENAME TO knowledge_search_0021")
    op.execute(
        "ALTER TABLE knowledge_search_0021 RENAME CONSTRAINT knowledge_search_pkey TO knowledge_search_0021_pkey"
    )
    op.execute(
        "ALTER TABLE knowledge_search_0021 "
        "RENAME CONSTRAINT knowledge_search_knowledge_id_fkey TO knowledge_search_0021_knowledge_id_fkey"
    )
    op.execute(TABLE)
    op.execute(
        f"INSERT INTO knowledge_search ({COLUMNS}) "
        "SELECT s.knowledge_id, k.category_id, k.status, s.title, s.tags, s.summary, s.content, s.head, s.body "
        "FROM knowledge_search_0021 s JOIN knowledge k ON k.id = s.knowledge_id ORDER BY s.knowledge_id"
    )
    op.execute("DROP TABLE knowledge_search_0021")
    for statement in INDEXES:
        op.execute(statement)
    op.execute("ANALYZE knowledge_search")
    op.execute(FILL)
    op.execute(FOLLOW)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(_match_facets())


def _match_facets() -> str:
    """Revision 0020's mks_body_matches as mks_body_match_facets: each match's category and status, not its id.

    Derived from that revision's text, so that both read the same buckets in the same order.
    """
    matches: str = context.script.get_revision("0020").module.MATCHES
    select = "SELECT knowledge_id FROM knowledge_search"
    if matches.count(select) != 2:
        raise RuntimeError("revision 0020's mks_body_matches has changed: both of its scans must return the fields")
    return (
        matches.replace("FUNCTION mks_body_matches(", "FUNCTION mks_body_match_facets(")
        # Qualified: the names of the columns a function returns are variables inside it.
        .replace("RETURNS SETOF integer", "RETURNS TABLE (category_id integer, status varchar)")
        .replace(select, "SELECT s.category_id, s.status FROM knowledge_search s")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION mks_body_match_facets(tsquery, integer)")
    op.execute("DROP TRIGGER knowledge_search_follows_entry ON knowledge")
    op.execute("DROP TRIGGER knowledge_search_entry_fields ON knowledge_search")
    op.execute("DROP FUNCTION mks_search_follows_entry()")
    op.execute("DROP FUNCTION mks_search_entry_fields()")
    op.execute("ALTER TABLE knowledge_search DROP COLUMN category_id, DROP COLUMN status")
