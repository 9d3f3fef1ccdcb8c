"""Query plans of what a request really sends: statements captured from the engine, then EXPLAINed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

Sent = list[tuple[str, Any]]


@contextmanager
def statements_sent(engine: Engine) -> Iterator[Sent]:
    """Every statement (with its parameters) the engine sends inside the block, in order."""
    sent: Sent = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def list_page_plan(engine: Engine, sent: Sent) -> str:
    """The plan of the list page query among the statements, asserting that no sort of all the rows is in it.

    On tiny tables the planner would scan anyway: PostgreSQL is asked whether an index *can* give the
    rows in order (no sequential scan, no sort allowed), SQLite must not build a temporary B-tree.
    """
    statement, parameters = next((statement, parameters) for statement, parameters in sent if "LIMIT" in statement)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SET enable_seqscan = off")
            connection.exec_driver_sql("SET enable_sort = off")
            plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters))
            assert "Sort" not in plan, plan
        else:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plan = "\n".join(row[-1] for row in rows)
            assert "TEMP B-TREE" not in plan, plan
    return plan
