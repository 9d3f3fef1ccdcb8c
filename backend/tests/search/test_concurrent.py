"""A search counts its matches beside its ranking, on a connection of its own, and answers as it would alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import Connection, event, select

from mks.db import current_db, get_session
from mks.models import Category, Knowledge
from mks.search import RankedPage, SearchFilters, SearchRequest, backend_for
from mks.search.concurrent import ConcurrentReads
from mks.search.text import parse_query

COUNT = "SELECT count(*) FROM"
TALLY = "SELECT category_id, status, count(*)"
JOIN = "ORDER BY bound DESC"


@contextmanager
def threads_sent(app: Flask) -> Iterator[list[tuple[str, str]]]:
    """The name of the thread that sent each statement of the app's engine, with the statement."""
    sent: list[tuple[str, str]] = []
    engine = current_db().engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append((threading.current_thread().name, statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _entries(app: Flask) -> None:
    """12 entries of 足場 and 点検: 8 in the title (6 approved), 4 in the body alone (approved), in 2 categories."""
    with app.app_context():
        session = get_session()
        categories = list(session.scalars(select(Category.id).order_by(Category.id).limit(2)))
        for number in range(8):
            status = "approved" if number < 6 else "draft"
            title = f"足場の点検 その{number}"
            session.add(Knowledge(title=title, content="本文", category_id=categories[number % 2], status=status))
        for number in range(4):
            title = f"記録 その{number}"
            session.add(Knowledge(title=title, content="足場を点検する", category_id=categories[0], status="approved"))
        session.commit()


def _searched(connection: Connection, backend_reads: ConcurrentReads | None, request: SearchRequest) -> RankedPage:
    return backend_for(connection.dialect.name, backend_reads).search(connection, request)


def test_the_count_and_the_facets_run_beside_the_ranking_and_answer_as_alone(app: Flask) -> None:
    _entries(app)
    terms = parse_query("足場 点検").terms
    for filters, facets in ((SearchFilters(), False), (SearchFilters(statuses=("approved",)), True)):
        request = SearchRequest(terms, filters, limit=10, offset=0, exact_total=10_000, facets=facets)
        with app.app_context(), threads_sent(app) as sent:
            connection = get_session().connection()
            beside = current_db().search.search(connection, request)
            alone = _searched(connection, None, request)
        assert beside == alone
        assert beside.total == (12 if filters.statuses is None else 10)
        assert len(beside.hits) == 10
        counting = TALLY if facets else COUNT
        threads = {name for name, statement in sent if statement.startswith(counting)}
        assert len(threads) == 2 and threading.current_thread().name in threads  # beside, then alone
        assert {name for name, statement in sent if JOIN in statement} == {threading.current_thread().name}


def test_a_transaction_that_wrote_counts_its_own_writes_on_its_own_connection(app: Flask) -> None:
    _entries(app)
    request = SearchRequest(parse_query("足場 点検").terms, SearchFilters(), limit=20, offset=0, exact_total=10_000)
    with app.app_context(), threads_sent(app) as sent:
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add(Knowledge(title="足場点検の手順", content="本文", category_id=category_id))
        session.flush()  # written, not committed: another connection would not see it
        page = current_db().search.search(session.connection(), request)
        session.rollback()
    assert (page.total, len(page.hits)) == (13, 13)
    assert {name for name, statement in sent if statement.startswith(COUNT)} == {threading.current_thread().name}


def test_a_read_past_the_spare_connections_runs_on_the_callers_own(app: Flask) -> None:
    with app.app_context():
        reads = ConcurrentReads(current_db().engine, 1)
        connection = get_session().connection()
        started, release = threading.Event(), threading.Event()

        def held(_reading: Connection) -> str:
            started.set()
            release.wait(timeout=30)
            return threading.current_thread().name

        first = reads.beside(connection, held)
        assert started.wait(timeout=30)
        second = reads.beside(connection, lambda reading: (threading.current_thread().name, reading is connection))
        assert second() == (threading.current_thread().name, True)
        release.set()
        assert first().startswith("mks-read")
        # The slot is free again.
        third = reads.beside(connection, lambda reading: reading is connection)
        assert third() is False
