"""What the PostgreSQL backend asks of the server beyond SQL both databases share."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select, text

from mks.db import current_db, get_session
from mks.models import Category, Knowledge
from mks.search import SearchFilters, SearchRequest
from mks.search.scoring import DF_CAP
from mks.search.text import parse_query

from ..plans import statements_sent


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_count_of_whole_tokens_reads_a_bitmap_and_puts_the_planner_back(app: Flask) -> None:
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
            for q, bound in (("足場 点検", 10_001), ("足場の点検", 10_001), ("足場 点検", DF_CAP)):
                request = SearchRequest(parse_query(q).terms, SearchFilters(), limit=20, offset=0, exact_total=10)
                counted[q, bound] = backend.count_matches(connection, request, bound=bound)
        settings = connection.execute(
            text("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan')")
        )
        assert settings.one() == ("off", "on")
    assert counted == {("足場 点検", 10_001): 2, ("足場の点検", 10_001): 1, ("足場 点検", DF_CAP): 2}
    # Two words of whole tokens: the planner is told to read the index's bitmap, and put back after.
    # A phrase (足場の点検) is checked in each match's vector, whatever the plan: the planner chooses;
    # so it does for a count up to DF_CAP, which a scan may finish before a bitmap is read.
    kinds = ["settings" if "set_config" in statement else "count" for statement, _ in sent]
    assert kinds == ["settings", "count", "settings", "count", "count"]
    assigned = [(values["value0"], values["value1"]) for statement, values in sent if "set_config" in statement]
    assert assigned == [("off", "off"), ("off", "on")]  # enable_seqscan, enable_indexscan: both off, then as they were


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_facets_of_whole_tokens_are_tallied_from_a_bitmap(app: Flask) -> None:
    """Left to itself the planner walked the index table in key order, reading each match's body vector.

    Without filters the ids come from mks_body_matches, whose settings force the bitmap; with them (a
    viewer's approved entries) the filters apply before the bound, inside the bitmap's settings."""
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
        "settings" if "set_config" in statement else "ids" if "mks_body_matches" in statement else "tally"
        for statement, _ in sent
    ]
    assert kinds == ["ids", "settings", "tally", "settings", "tally"]  # a phrase: the planner chooses
