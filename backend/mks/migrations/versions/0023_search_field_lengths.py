"""PostgreSQL: the total length of each indexed field, kept by triggers, for BM25F's average field lengths.

BM25F divides a field's frequency by the field's length relative to its average over the index.
Each gunicorn worker read the averages with a scan of knowledge_search every 300 seconds, inside
whichever search came first: 51 ms (cached) to 143 ms (cold) at 100,000 entries, on top of that
search. knowledge_search_lengths holds the sums instead, as Lucene keeps each field's sum of
lengths: a search reads them with its IDF counts, exact and the same for every worker.

Statement triggers add what each INSERT, UPDATE or DELETE of knowledge_search changes (their
transition tables: one statement for a whole batch of an import). The totals are the sums of
slots, rows of the table: a write adds its change to a slot no other transaction holds (FOR
UPDATE SKIP LOCKED), or to a new one when every slot is held. Writers then never wait for each
other here, and a long import holds one slot, not the edits of others. A restore of a dump
brings the slots as they were, before the triggers exist. SQLite: FTS5 keeps its own averages.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04
"""

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

FIELDS = ("title", "tags", "summary", "content")
TOTALS = ("entries", *FIELDS)

TABLE = (
    "CREATE TABLE knowledge_search_lengths (slot INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    + ", ".join(f"{name} BIGINT NOT NULL" for name in TOTALS)
    + ")"
)


def _sums(rows: str) -> str:
    """The number of the transition table's ``rows`` and the total length of each of their fields, in octets."""
    lengths = ", ".join(f"coalesce(sum(octet_length({name})), 0) AS {name}" for name in FIELDS)
    return f"(SELECT count(*) AS entries, {lengths} FROM {rows}) AS {rows}"


def _change(added: str, removed: str) -> str:
    """SELECT ... INTO change: what the statement added less what it removed."""
    difference = ", ".join(f"added.{name} - removed.{name} AS {name}" for name in TOTALS)
    return f"SELECT {difference} INTO change FROM {added}, {removed}"


def _none(rows: str) -> str:
    """_sums of a transition table the statement lacks (``added``: INSERT, UPDATE; ``removed``: UPDATE, DELETE)."""
    return f"(SELECT {', '.join(f'0 AS {name}' for name in TOTALS)}) AS {rows}"


COUNT = f"""
CREATE FUNCTION mks_search_count_lengths() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        {_change(_sums("added"), _none("removed"))};
    ELSIF TG_OP = 'DELETE' THEN
        {_change(_none("added"), _sums("removed"))};
    ELSE
        {_change(_sums("added"), _sums("removed"))};
    END IF;
    IF ({", ".join(f"change.{name}" for name in TOTALS)}) = ({", ".join("0" for _ in TOTALS)}) THEN
        RETURN NULL;  -- an entry's category or status copied (migration 0022)
    END IF;
    UPDATE knowledge_search_lengths AS l SET {", ".join(f"{name} = l.{name} + change.{name}" for name in TOTALS)}
    WHERE l.slot = (SELECT slot FROM knowledge_search_lengths ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED);
    IF NOT FOUND THEN
        INSERT INTO knowledge_search_lengths ({", ".join(TOTALS)})
        VALUES ({", ".join(f"change.{name}" for name in TOTALS)});
    END IF;
    RETURN NULL;
END
$$
"""

TRIGGERS = tuple(
    f"CREATE TRIGGER knowledge_search_lengths_{name} AFTER {event} ON knowledge_search "
    f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION mks_search_count_lengths()"
    for name, event, tables in (
        ("added", "INSERT", "NEW TABLE AS added"),
        ("changed", "UPDATE", "OLD TABLE AS removed NEW TABLE AS added"),
        ("removed", "DELETE", "OLD TABLE AS removed"),
    )
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TABLE)
    op.execute(f"INSERT INTO knowledge_search_lengths ({', '.join(TOTALS)}) SELECT * FROM {_sums('knowledge_search')}")
    op.execute(COUNT)
    for statement in TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in ("added", "changed", "removed"):
        op.execute(f"DROP TRIGGER knowledge_search_lengths_{name} ON knowledge_search")
    op.execute("DROP FUNCTION mks_search_count_lengths()")
    op.execute("DROP TABLE knowledge_search_lengths")
