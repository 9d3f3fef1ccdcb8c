"""What the PostgreSQL backend asks of the server beyond SQL both databases share."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import Connection, select, text

from mks import migrate
from mks.db import current_db, get_session
from mks.models import Category, Knowledge
from mks.search import SearchFilters, SearchRequest
from mks.search.base import IndexedDocument
from mks.search.postgresql import index_statistics
from mks.search.rebuild import reindex
from mks.search.scoring import DF_CAP, idf
from mks.search.text import parse_query

from ..plans import statements_sent


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_count_of_whole_tokens_reads_the_bitmap_inside_mks_body_matches(app: Flask) -> None:
    """A count of whole tokens takes the ids from mks_body_matches, whose own settings force the bitmap and
    leave the caller's as they were; a phrase, or a count up to DF_CAP, lets the planner choose."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add_all(
            Knowledge(title=title, content=content, category_id=category_id)
            for title, content in [("足場の点検", "本文"), ("点検の記録", "足場を確認"), ("足場の組立", "本文")]
        )
        session.commit()
        connection = get_session().connection()
        connection.execute(text("SET LOCAL enable_seqscan = off"))  # a setting of the caller's, kept
        backend = current_db().search
        counted = {}
        with statements_sent(current_db().engine) as sent:
            for q, bound in (("足場 点検", 10_001), ("足場の点検", 10_001), ("足場 点検", DF_CAP), ("杭", 10_001)):
                request = SearchRequest(parse_query(q).terms, SearchFilters(), limit=20, offset=0, exact_total=10)
                counted[q, bound] = backend.count_matches(connection, request, bound=bound)
        settings = connection.execute(
            text("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan')")
        )
        assert settings.one() == ("off", "on")
    assert counted == {("足場 点検", 10_001): 2, ("足場の点検", 10_001): 1, ("足場 点検", DF_CAP): 2, ("杭", 10_001): 0}
    kinds = ["ids" if "mks_body_matches" in statement else "count" for statement, _ in sent]
    # 杭, one character, is one lexeme too (migration 0021): no prefix.
    assert kinds == ["ids", "count", "count", "ids"]
    assert [values["query"] for statement, values in sent if "mks_body_matches" in statement][1] == "(('杭'))"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_mks_body_matches_reads_the_newest_buckets_first_then_the_rest_at_once(app: Flask) -> None:
    """Buckets of 8,192 ids (migration 0020): the 8 newest one by one up to the bound, the older ones together."""
    ids = [8_192 * bucket + 5 for bucket in range(11)]  # one entry in each of buckets 0-10
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add_all(Knowledge(id=id_, title="足場の点検", content="本文", category_id=category_id) for id_ in ids)
        session.add(Knowledge(id=3, title="型枠の解体", content="本文", category_id=category_id))
        session.commit()
        connection = get_session().connection()

        def matches(query: str, bound: int) -> list[int]:
            found = connection.execute(
                text("SELECT id FROM mks_body_matches(CAST(:query AS tsquery), :bound) AS found (id)"),
                {"query": query, "bound": bound},
            )
            return [row.id for row in found]

        newest_three = matches("'足場' & '点検'", 3)
        every_match = matches("'足場' & '点検'", 100)
        one_character = matches("'足'", 100)  # inside a run: a lexeme without positions (migration 0021)
        none = matches("'鏝絵'", 100)
    assert newest_three == [ids[10], ids[9], ids[8]]
    # Buckets 10 down to 3 one by one, then 0-2 in one scan (in the order of the table).
    assert every_match[:8] == ids[10:2:-1]
    assert sorted(every_match[8:]) == ids[:3]
    assert sorted(one_character) == ids
    assert none == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_search_is_planned_serially_and_gives_the_callers_setting_back(app: Flask) -> None:
    """Every statement of a search runs without parallel workers; the caller's setting comes back after it."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        entries = [
            Knowledge(title=title, content="本文", category_id=category_id) for title in ("足場の点検", "足場の組立")
        ]
        session.add_all(entries)
        session.commit()
        connection = get_session().connection()
        connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 3"))  # a setting of the caller's
        request = SearchRequest(parse_query("足場 点検").terms, SearchFilters(), limit=20, offset=0, exact_total=10)
        with statements_sent(current_db().engine) as sent:
            page = current_db().search.search(connection, request)
        after = connection.execute(text("SELECT current_setting('max_parallel_workers_per_gather')")).scalar_one()
    assert ([hit.knowledge_id for hit in page.hits], page.total) == ([entries[0].id], 1)
    settings = [values for statement, values in sent if "set_config" in statement]
    assert (sent[0][1], sent[-1][1]) == (settings[0], settings[-1])  # the first statement and the last
    assert [(values["name0"], values["value0"]) for values in (settings[0], settings[-1])] == [
        ("max_parallel_workers_per_gather", "0"),
        ("max_parallel_workers_per_gather", "3"),
    ]
    assert after == "3"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_facets_of_whole_tokens_are_tallied_from_a_bitmap(app: Flask) -> None:
    """Left to itself the planner walked the index table in key order, reading each match's body vector.

    Without filters the categories and statuses come from mks_body_match_facets, whose settings force the
    bitmap as mks_body_matches's do; with them (a viewer's approved entries) the filters apply before the
    bound, inside the bitmap's settings."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add_all(
            Knowledge(title=title, content=content, category_id=category_id, status=status)
            for title, content, status in [
                ("足場の点検", "本文", "draft"),
                ("点検の記録", "足場を確認", "approved"),
                ("足場の点検手順", "本文", "approved"),
                ("足場の組立", "本文", "approved"),
            ]
        )
        session.commit()
        connection = get_session().connection()
        backend = current_db().search
        tallied = {}
        with statements_sent(current_db().engine) as sent:
            for q, filters in (
                ("足場 点検", SearchFilters()),
                ("足場 点検", SearchFilters(statuses=("approved",))),
                ("足場の点検", SearchFilters()),
            ):
                request = SearchRequest(parse_query(q).terms, filters, limit=20, offset=0, exact_total=10)
                found = backend.tally(connection, request, bound=10_001)
                tallied[q, filters.statuses] = sorted((t.status, t.count) for t in found)
    assert tallied == {
        ("足場 点検", None): [("approved", 2), ("draft", 1)],
        ("足場 点検", ("approved",)): [("approved", 2)],
        ("足場の点検", None): [("approved", 1), ("draft", 1)],
    }
    kinds = [
        "settings" if "set_config" in statement else "facets" if "mks_body_match_facets" in statement else "tally"
        for statement, _ in sent
    ]
    assert kinds == ["facets", "settings", "tally", "settings", "tally"]  # a phrase: the planner chooses


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_migration_0021_gives_entries_indexed_before_it_their_characters(app: Flask) -> None:
    """Down to 0020 the vectors lose exactly the lexemes of one character without positions; up again they
    regain them, and a word of one character inside a run (鉄 of 鉄筋) is found by its lexeme."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        entry = Knowledge(title="鉄筋の杭", content="本文", category_id=category_id)
        session.add(entry)
        session.commit()
        engine = current_db().engine
        vector = "SELECT CAST(body AS text) FROM knowledge_search WHERE knowledge_id = :id"
        with engine.connect() as connection:
            current = connection.execute(text(vector), {"id": entry.id}).scalar_one()
        migrate.downgrade(engine, "0020")
        with engine.connect() as connection:
            before = connection.execute(text(vector), {"id": entry.id}).scalar_one()
        migrate.upgrade(engine)
        with engine.connect() as connection:
            after = connection.execute(text(vector), {"id": entry.id}).scalar_one()
            found = connection.execute(
                text("SELECT id FROM mks_body_matches(CAST(:query AS tsquery), 10) AS found (id)"), {"query": "'鉄'"}
            )
            assert [row.id for row in found] == [entry.id]
    assert before == "'の杭':3A '文':9 '本文':8 '杭':4A '筋の':2A '鉄筋':1A"
    assert after == current == "'の' 'の杭':3A '文':9 '本' '本文':8 '杭':4A '筋' '筋の':2A '鉄' '鉄筋':1A"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_each_indexed_entry_holds_its_category_and_status_whatever_writes_them(app: Flask) -> None:
    """Migration 0022: knowledge_search's category and status follow the entry's through the ORM, through
    plain SQL and through a downgrade and upgrade; the facets count them."""
    with app.app_context():
        session = get_session()
        first, second = session.scalars(select(Category.id).order_by(Category.id).limit(2)).all()
        entries = [
            Knowledge(title=title, content="足場の本文", category_id=first, status="draft")
            for title in ("足場の点検", "足場の組立", "足場の解体")
        ]
        session.add_all(entries)
        session.commit()
        ids = [entry.id for entry in entries]
        engine = current_db().engine
        held = text("SELECT knowledge_id, category_id, status FROM knowledge_search ORDER BY knowledge_id")
        written = text("SELECT id, category_id, status FROM knowledge ORDER BY id")

        def tally() -> list[tuple[int, str, int]]:
            request = SearchRequest(parse_query("足場").terms, SearchFilters(), limit=20, offset=0, exact_total=10)
            with engine.connect() as connection:
                tallies = current_db().search.tally(connection, request, bound=10_001)
            return sorted((each.category_id, each.status, each.count) for each in tallies)

        new = tally()
        entries[0].status = "approved"  # a workflow step, through the ORM
        entries[1].category_id = second
        session.commit()
        changed = tally()
        session.execute(text("UPDATE knowledge SET status = 'archived' WHERE id = :id"), {"id": ids[2]})
        session.commit()
        session.close()
        with engine.connect() as connection:
            assert connection.execute(held).all() == connection.execute(written).all()
        migrate.downgrade(engine, "0021")
        with engine.connect() as connection:
            connection.execute(text("UPDATE knowledge SET status = 'review' WHERE id = :id"), {"id": ids[1]})
            connection.commit()
        migrate.upgrade(engine)
        with engine.connect() as connection:
            upgraded = connection.execute(held).all()
            assert upgraded == connection.execute(written).all()
            columns = connection.execute(
                text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'knowledge_search' ORDER BY ordinal_position"
                )
            ).scalars()
            # Right after the id: a row's columns are read in order, and the text and vectors are long.
            assert list(columns)[:3] == ["knowledge_id", "category_id", "status"]
        after_upgrade = tally()
    assert new == [(first, "draft", 3)]
    assert changed == [(first, "approved", 1), (first, "draft", 1), (second, "draft", 1)]
    assert [row.status for row in upgraded] == ["approved", "review", "archived"]
    assert after_upgrade == [(first, "approved", 1), (first, "archived", 1), (second, "review", 1)]


LENGTHS_KEPT = text(
    "SELECT count(*), sum(entries), sum(title), sum(tags), sum(summary), sum(content) FROM knowledge_search_lengths"
)
LENGTHS_FOUND = text(
    "SELECT sum(octet_length(title)), sum(octet_length(tags)), sum(octet_length(summary)), "
    "sum(octet_length(content)) FROM knowledge_search"
)


def _lengths(connection: Connection) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The slots, the totals they keep (entries, then each field), and the totals counted from the index."""
    slots, *kept = connection.execute(LENGTHS_KEPT).one()
    entries = connection.execute(text("SELECT count(*) FROM knowledge_search")).scalar_one()
    return slots, tuple(kept), (entries, *connection.execute(LENGTHS_FOUND).one())


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_field_lengths_follow_every_write_and_the_search_reads_their_averages(app: Flask) -> None:
    """Migration 0023: the totals behind BM25F's average field lengths follow each insert, edit, copy of a
    status and delete, in one slot; a rebuild starts them afresh."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        entries = [
            Knowledge(title="足場の点検", summary="要約", content="足場の本文です", category_id=category_id),
            Knowledge(title="杭", content="杭打ちの記録", category_id=category_id),
        ]
        session.add_all(entries)
        session.commit()
        steps = [_lengths(session.connection())]
        entries[0].content = "足場を組み立てる前の点検の本文"
        session.commit()
        steps.append(_lengths(session.connection()))
        entries[1].status = "approved"  # copied to its row of the index (migration 0022): no length changes
        session.commit()
        steps.append(_lengths(session.connection()))
        session.delete(entries[1])
        session.commit()
        steps.append(_lengths(session.connection()))
        connection = session.connection()
        weights, averages = index_statistics(connection, ["'足場'"])
        reindex(connection, current_db().search, lambda _done, _total: None)
        rebuilt = _lengths(connection)
        session.rollback()
    for slots, kept, found in [*steps, rebuilt]:
        assert (slots, kept) == (1, found)
    assert [kept for _slots, kept, _found in steps] == [
        (2, 18, 0, 6, 39),
        (2, 18, 0, 6, 63),
        (2, 18, 0, 6, 63),
        (1, 15, 0, 6, 45),
    ]
    # One entry: its own lengths; an empty field's average is 1 octet (no division by zero).
    assert averages == {"title": 15.0, "tags": 1.0, "summary": 6.0, "content": 45.0}
    assert weights == [idf(1, 1)]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_writers_at_once_add_their_lengths_to_different_slots_without_waiting(app: Flask) -> None:
    """A transaction holding a slot until it commits (an import) holds up no other writer: the other
    takes a new slot, and the totals are exact once both commit."""
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        entries = [Knowledge(title=f"足場の点検 {n}", content="本文", category_id=category_id) for n in range(2)]
        session.add_all(entries)
        session.commit()
        ids = [entry.id for entry in entries]
        session.close()
        database = current_db()
        with database.engine.connect() as first, database.engine.connect() as second:
            database.search.index(first, [IndexedDocument(ids[0], _fields("足場の点検と組立", "長い本文"))])
            # Waiting for the first's slot would raise LockNotAvailable after 200 ms.
            second.execute(text("SET lock_timeout = '200ms'"))
            database.search.index(second, [IndexedDocument(ids[1], _fields("足場", "本文"))])
            second.commit()
            first.commit()
        with database.engine.connect() as connection:
            slots, kept, found = _lengths(connection)
    assert slots == 2
    assert kept == found == (2, 24 + 6, 0, 0, 12 + 6)


def _fields(title: str, content: str) -> dict[str, str]:
    return {"title": title, "tags": "", "summary": "", "content": content}
