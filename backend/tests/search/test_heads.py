"""The head tier's fast paths rank exactly as scoring every entry of the tier from its text does."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import select, text

from mks import migrate
from mks.db import current_db, get_session
from mks.models import Category, Knowledge, Tag
from mks.search import SearchFilters, SearchRequest, heads, impacts
from mks.search.rebuild import reindex
from mks.search.text import normalize, parse_query

from ..plans import statements_sent

WORDS = ("鉄筋", "かぶり厚さ", "コンクリート", "生コン", "打設", "養生", "杭", "施工計画", "型枠", "足場")
ENTRIES = 300


@pytest.fixture
def tier(app: Flask) -> Flask:
    """ENTRIES entries whose titles and tags draw on WORDS, some words repeated, in two categories and statuses."""
    rng = random.Random(20261201)
    with app.app_context():
        session = get_session()
        categories = list(session.scalars(select(Category.id).order_by(Category.id).limit(2)))
        tags = {word: Tag(name=word) for word in WORDS}
        for _ in range(ENTRIES):
            words = rng.choices(WORDS, k=rng.randint(1, 4))
            session.add(
                Knowledge(
                    title="の".join(words) + "に関する記録" * rng.randint(0, 3),
                    content="本文",
                    category_id=rng.choice(categories),
                    status=rng.choice(("approved", "approved", "draft")),
                    tags=[tags[word] for word in sorted(set(rng.choices(WORDS, k=rng.randint(0, 3))))],
                )
            )
        session.commit()
    return app


def _ranked(app: Flask, q: str, filters: SearchFilters, offset: int = 0) -> heads.RankedTier:
    """The tier as rank_heads finds it, with the indexed words the search would use; its best from ``offset``."""
    with app.app_context():
        connection = get_session().connection()
        backend = current_db().search
        indexed = backend.indexed_words.current(connection).words
        terms = [term.indexed_by(indexed) for term in parse_query(q).terms]
        request = SearchRequest(terms, filters, limit=20, offset=offset, exact_total=10_000)
        tier = heads.rank_heads(connection, backend, request)
        return replace(tier, best=tier.best[offset:])


def _every(app: Flask, q: str, filters: SearchFilters, offset: int = 0, limit: int = 20) -> list[heads.RankedHead]:
    """The page at ``offset``, with every entry of the tier scored from its text."""
    request = SearchRequest(parse_query(q).terms, filters, limit=limit, offset=offset, exact_total=10_000)
    with app.app_context():
        return heads.whole_tier(get_session().connection(), current_db().search, request)[offset : offset + limit]


@pytest.mark.parametrize(
    "q",
    [
        "養生",  # one 2-character word: its impact is its frequency, no text read
        "施工計画",  # one long word: bounded by a piece, its text scored
        "杭",  # one character
        "鉄筋 養生",  # two pieces: the join, scores from the impacts
        "コンクリート 打設",  # a long word in the join: text scored in bound order
        "鉄筋 かぶり厚さ 養生",  # three terms, with the whole-query phrase
    ],
)
@pytest.mark.parametrize("learned", [False, True], ids=["pieces", "indexed words"])
def test_the_fast_paths_rank_as_scoring_the_whole_tier(tier: Flask, q: str, learned: bool) -> None:
    if learned:
        # Every word of 3+ characters of WORDS and its substrings of 3+ gets a list of its own:
        # かぶり厚さ 6, こんくりーと 10, 生こん 1, 施工計画 3.
        with tier.app_context(), current_db().engine.begin() as connection:
            assert reindex(connection, current_db().search, lambda _done, _total: None).words == 20
    # The join counts the whole tier where the backend merges the lists (PostgreSQL) and a count can use
    # it: no filter narrows the matches. A single word's walk does not count.
    with tier.app_context():
        counted = current_db().search.joins_by_merge and " " in q
    size = len(_every(tier, q, SearchFilters(), 0, limit=ENTRIES)) if counted else None
    for filters in (SearchFilters(), SearchFilters(statuses=("approved",))):
        for offset in (0, 20):
            every = _every(tier, q, filters, offset)
            fast = _ranked(tier, q, filters, offset)
            assert fast == heads.RankedTier(every, None if filters.restrict else size)
            assert every or offset > 0


def test_the_phrase_of_the_whole_query_ranks_first_in_the_join(tier: Flask) -> None:
    with tier.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        written_together = Knowledge(title="鉄筋養生の要点", content="本文", category_id=category_id, status="approved")
        session.add(written_together)
        session.commit()
        expected = written_together.id
    found = _ranked(tier, "鉄筋 養生", SearchFilters()).best
    assert found[0].knowledge_id == expected
    assert found == _every(tier, "鉄筋 養生", SearchFilters())


def _joins(tier: Flask, q: str, filters: SearchFilters) -> tuple[bool, list[str], bool]:
    """Whether the backend cuts joins, the join statements a ranking of ``q`` sent, and whether it sampled."""
    with tier.app_context(), statements_sent(current_db().engine) as sent:
        cuts = not current_db().search.joins_by_merge
        fast = _ranked(tier, q, filters)
    assert fast.best == _every(tier, q, filters)
    joins = [statement for statement, _ in sent if "ORDER BY bound DESC" in statement]
    return cuts, joins, any("UNION ALL" in statement for statement, _ in sent)


@pytest.mark.parametrize("statuses", [None, ("draft",)], ids=["every entry", "drafts"])
def test_the_join_cut_by_a_sampled_threshold_ranks_as_scoring_the_whole_tier(
    tier: Flask, statuses: tuple[str, ...] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The lists here are of about 100 entries: cut them as SQLite cuts those of thousands.
    monkeypatch.setattr(heads, "CUT_FROM", 0)
    # The threshold is the 20th best bound of the sample, whatever the filters: with drafts only (a third
    # of the entries), fewer than 20 pass above it, and the entries below it are read too.
    cuts, joins, sampled = _joins(tier, "鉄筋 養生", SearchFilters(statuses=statuses))
    assert sampled == cuts
    sides = [re.search(r"(>=|<) (\?|%\(theta\)s) ORDER BY", statement) for statement in joins]
    if not cuts:  # PostgreSQL: one join, whole
        assert sides == [None]
        return
    # Above the threshold, read from the entries of high enough impact in some list; then below it.
    assert [side and side[1] for side in sides] == ([">=", "<"] if statuses else [">="])
    assert re.search(r" AND h[01]\.impact >= ", joins[0])


@pytest.mark.parametrize(
    ("q", "cut_from"), [("鉄筋 養生", heads.CUT_FROM), ("鉄筋 かぶり厚さ 養生", 0)], ids=["short lists", "three lists"]
)
def test_a_join_of_short_lists_or_of_three_is_not_sampled(
    tier: Flask, q: str, cut_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heads, "CUT_FROM", cut_from)
    _cuts, joins, sampled = _joins(tier, q, SearchFilters())
    assert (len(joins), sampled) == (1, False)


def test_impacts_are_kept_in_step_with_the_entry(app: Flask) -> None:
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        entry = Knowledge(
            title="足場の点検", content="本文", category_id=category_id, status="approved", tags=[Tag(name="足場")]
        )
        session.add(entry)
        session.commit()
        stored = dict(
            session.execute(
                text("SELECT token, impact FROM knowledge_head_impacts WHERE knowledge_id = :id"), {"id": entry.id}
            ).all()
        )
        assert stored == impacts.impacts({"title": normalize("足場の点検"), "tags": normalize("足場")})
        # One occurrence in a title of 5 characters (weight 1, typical length 24) and in tags of 2 (weight 0.6).
        assert stored["足場"] == pytest.approx(1 / (0.25 + 0.75 * 5 / 24) + 0.6 / (0.25 + 0.75 * 2 / 24))
        entry.title = "型枠の解体"
        session.commit()
        tokens = set(
            session.scalars(text("SELECT token FROM knowledge_head_impacts WHERE knowledge_id = :id"), {"id": entry.id})
        )
        assert "点検" not in tokens and {"型枠", "解体", "足場"} <= tokens
        session.delete(entry)
        session.commit()
        left = session.scalar(
            text("SELECT count(*) FROM knowledge_head_impacts WHERE knowledge_id = :id"), {"id": entry.id}
        )
        assert left == 0


def test_the_upgrade_fills_the_impacts_of_every_entry(tier: Flask) -> None:
    with tier.app_context():
        engine = current_db().engine
        session = get_session()
        before = session.execute(text("SELECT token, impact, knowledge_id FROM knowledge_head_impacts")).all()
        session.close()
        migrate.downgrade(engine, "0008")
        migrate.upgrade(engine)
        after = get_session().execute(text("SELECT token, impact, knowledge_id FROM knowledge_head_impacts")).all()
    assert sorted(after) == sorted(before)
    assert len({row.knowledge_id for row in after}) == ENTRIES


def _titled(app: Flask, titles: list[str]) -> None:
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add_all(Knowledge(title=title, content="本文", category_id=category_id) for title in titles)
        session.commit()


def test_the_rarest_piece_is_told_by_list_length_when_the_counts_for_idf_are_capped(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 施工 is in 5 titles, 工計 and 計画 in 3: all reach a cap of 2, as common pieces reach DF_CAP.
    _titled(app, ["施工計画"] * 3 + ["施工管理"] * 2)
    monkeypatch.setattr(heads, "DF_CAP", 2)
    with app.app_context():
        query = heads.head_query(get_session().connection(), current_db().search, parse_query("施工計画").terms)
    assert query.drivers == ["工計"]
    assert query.lengths == {"施工": 5, "工計": 3, "計画": 3}


def test_lengths_are_not_counted_when_a_piece_below_the_cap_is_the_rarest(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 施工 6, 工計 and 計画 4: capped at 2; 画書 is in 1 title, so it is the rarest whatever the others' lengths.
    _titled(app, ["施工計画"] * 3 + ["施工管理"] * 2 + ["施工計画書"])
    monkeypatch.setattr(heads, "DF_CAP", 2)
    with app.app_context():
        query = heads.head_query(get_session().connection(), current_db().search, parse_query("施工計画書").terms)
    assert query.drivers == ["画書"]
    assert query.lengths == {"施工": 2, "工計": 2, "計画": 2, "画書": 1}


def test_the_own_lists_are_measured_only_where_the_join_probes_them(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 足場 in 3 titles and 点検 in 3, each over a cap of 2; 場点 (the phrase 足場点検) in none.
    _titled(app, ["足場の点検", "足場の点検", "足場の組立", "点検の記録"])
    monkeypatch.setattr(heads, "DF_CAP", 2)
    with app.app_context():
        source = current_db().search
        query = heads.head_query(get_session().connection(), source, parse_query("足場 点検").terms)
    assert query.drivers == ["足場", "点検"]
    # SQLite probes the longer list for each entry of the shorter, so it needs their lengths; a merge reads
    # both whole, and counting them again whenever they expire would only slow a search.
    own = {"足場": 2, "点検": 2} if source.joins_by_merge else {"足場": 3, "点検": 3}
    assert query.lengths == {**own, "場点": 0}


def test_list_lengths_are_counted_again_after_their_period(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    _titled(app, ["足場の点検"] * 3)
    lengths = impacts.ListLengths()
    now = [1000.0]
    monkeypatch.setattr(impacts.time, "monotonic", lambda: now[0])
    with app.app_context():
        assert lengths.of(get_session().connection(), ["足場", "点検"]) == {"足場": 3, "点検": 3}
    _titled(app, ["足場の組立"] * 2)
    with app.app_context():
        connection = get_session().connection()
        assert lengths.of(connection, ["足場", "組立"]) == {"足場": 3, "組立": 2}  # 足場 as counted before
        now[0] += impacts.LENGTHS_SECONDS + 1
        assert lengths.of(connection, ["足場"]) == {"足場": 5}


def _count(app: Flask, q: str, filters: SearchFilters, bound: int) -> tuple[int, list[str]]:
    """The search backend's count of q's matches up to bound, and which index each of its statements read."""
    request = SearchRequest(parse_query(q).terms, filters, limit=20, offset=0, exact_total=bound - 1)
    with app.app_context(), statements_sent(current_db().engine) as sent:
        found = current_db().search.count(get_session().connection(), request, bound=bound)
    readers = {"knowledge_head_impacts": "impacts", "knowledge_tokens": "text", "knowledge_search s": "text"}
    return found, [name for statement, _ in sent for table, name in readers.items() if table in statement]


def test_a_lone_common_piece_is_counted_from_its_impact_list_up_to_the_bound(app: Flask) -> None:
    # 養生 in 4 titles (3 approved), and in the body of a fifth entry, which only the text index finds.
    _titled(app, ["散水養生", "加熱養生", "養生の期間", "養生シート"])
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add(Knowledge(title="散水の記録", content="養生を続ける", category_id=category_id))
        session.execute(text("UPDATE knowledge SET status = 'approved' WHERE title != '養生シート'"))
        session.commit()
    approved = SearchFilters(statuses=("approved",))
    # The list's length is counted once (the first "impacts"); 4 entries reach a bound of 3 or 4 alone.
    assert _count(app, "養生", SearchFilters(), bound=3) == (3, ["impacts", "impacts"])
    assert _count(app, "養生", SearchFilters(), bound=4) == (4, ["impacts"])
    assert _count(app, "養生", approved, bound=3) == (3, ["impacts"])
    # Below the bound the text index counts every match, the body's too: at once when the list is
    # known to be shorter, after the list when the filters leave too few of it.
    assert _count(app, "養生", SearchFilters(), bound=6) == (5, ["text"])
    assert _count(app, "養生", approved, bound=4) == (4, ["impacts", "text"])
    # A longer word, or two words, are counted in the text index alone.
    assert _count(app, "養生シート", SearchFilters(), bound=1) == (1, ["text"])
    assert _count(app, "養生 散水", SearchFilters(), bound=2) == (2, ["text"])


def test_a_joined_tier_that_reaches_the_bound_counts_a_search_without_filters(app: Flask) -> None:
    # 足場 and 点検 in 4 titles, draft; in the body alone of a fifth entry, approved.
    _titled(app, ["足場の点検", "足場点検", "点検と足場", "足場の日常点検"])
    with app.app_context():
        session = get_session()
        category_id = session.scalars(select(Category.id).limit(1)).one()
        session.add(Knowledge(title="記録", content="足場を点検", category_id=category_id, status="approved"))
        session.commit()

    def searched(filters: SearchFilters, exact_total: int) -> tuple[int, bool, int, list[str]]:
        request = SearchRequest(parse_query("足場 点検").terms, filters, limit=20, offset=0, exact_total=exact_total)
        with app.app_context(), statements_sent(current_db().engine) as sent:
            page = current_db().search.search(get_session().connection(), request)
        # The count of the matches up to the bound (not the document frequencies of the body's ranking),
        # whose bound is its last parameter (SQLite's are positional).
        counts = [
            statement
            for statement, values in sent
            if statement.startswith("SELECT count(*) FROM (SELECT 1 AS one ")
            and (values["bound"] if isinstance(values, dict) else values[-1]) == exact_total + 1
        ]
        return page.total, page.total_is_exact, len(page.hits), counts

    # Where the join ranking the tier counted its 4 entries (PostgreSQL), at a bound of 4 no count is
    # needed; the body match is still on the page, whose total is then a lower bound.
    with app.app_context():
        counted_in_join = current_db().search.joins_by_merge
    total, exact, hits, counts = searched(SearchFilters(), exact_total=3)
    assert (total, exact, hits, len(counts)) == (3, False, 5, 0 if counted_in_join else 1)
    total, exact, hits, counts = searched(SearchFilters(), exact_total=10)
    assert (total, exact, hits, len(counts)) == (5, True, 5, 1)
    # Filters narrow the tier after the join: the matches are counted.
    total, exact, hits, counts = searched(SearchFilters(statuses=("approved",)), exact_total=3)
    assert (total, exact, hits, len(counts)) == (1, True, 1, 1)
